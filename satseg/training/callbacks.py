"""The one Keras callback that drives a training unit: schedule, stop flag, validation,
history, best model, checkpoints, early stopping, time limit, progress bar, user callbacks.

One callback (rather than many) keeps the order of these steps fixed and testable: at the end of
each epoch it validates, appends the history row, saves the best model, writes the checkpoint, then
calls the user's callables, then decides whether to stop.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from satseg.training.config import TrainingParams
from satseg.training.run import atomic_save_model, atomic_write_json, predict_fn
from satseg.training.schedules import scheduled_lr
from satseg.training.validate import ValItem, validation_counts

log = logging.getLogger("satseg.training")


class RunCallback(keras.callbacks.Callback):
    """Per-batch: learning rate, stop flag, progress. Per-epoch: see the module docstring."""

    def __init__(
        self,
        *,
        params: TrainingParams,
        class_names: Sequence[str],
        val: Sequence[ValItem],
        input_size: int,
        output_size: int,
        model_path: Path,
        ckpt_dir: Path,
        unit: str | None,
        state: dict[str, Any],
        stop_flag: Any = None,
        exclusive: bool = False,
        user_callbacks: Sequence[Callable[[int, dict[str, Any]], Any]] = (),
        progress: bool = False,
        deadline: float | None = None,
        on_history: Callable[[], None] | None = None,
    ):
        super().__init__()
        self.p = params
        self.class_names = list(class_names)
        self.val = list(val)
        self.input_size, self.output_size = input_size, output_size
        self.model_path, self.ckpt_dir = Path(model_path), Path(ckpt_dir)
        self.unit = unit
        self.state = state  # epoch, best, best_epoch, bad_epochs, plateau_lr, history
        self.stop_flag = stop_flag
        self.exclusive = exclusive  # softmax run: validate on exclusive scores (arg-max)
        self.user_callbacks = list(user_callbacks)
        self.progress = progress
        self.deadline = deadline
        self.on_history = on_history
        self.stop_reason: str | None = None
        self._mid_epoch_stop = False
        self._bar: Any = None
        self._t_start = time.monotonic()
        self._epoch_t0 = 0.0
        self._epoch_times: list[float] = []
        self._cur_epoch = 0
        self._steps = 0  # batches done in the current epoch
        self.timings: dict[str, float] = {"first_batch_s": 0.0, "save_s": 0.0}
        self._fit_t0 = 0.0
        self._predict: Any = None
        self._lr = float(params.learning_rate)

    # ---------------------------------------------------------------- helpers
    def _flag_set(self) -> bool:
        return self.stop_flag is not None and bool(self.stop_flag.is_set())

    def _time_progress(self) -> float | None:
        if self.deadline is None:
            return None
        total = self.deadline - self._t_start
        return (time.monotonic() - self._t_start) / total if total > 0 else 1.0

    def _progress(self, t_epochs: float) -> float:
        """Schedule progress in [0, 1]: ``cosine_time`` follows the wall clock alone (it reaches
        its floor exactly at the deadline); the others the larger of epochs and clock."""
        p = t_epochs / self.p.epochs
        tp = self._time_progress()
        if tp is not None:
            p = tp if self.p.schedule == "cosine_time" else max(p, tp)
        return min(max(p, 0.0), 1.0)

    def _set_lr(self, epoch: int, step: int) -> None:
        t = epoch + step / self.p.steps_per_epoch
        prog = self._progress(t)
        t_eff = max(t, prog * self.p.epochs)
        lr = scheduled_lr(self.p, prog, t_eff, self.state["plateau_lr"])
        self.model.optimizer.learning_rate.assign(lr)
        self._lr = lr

    # ---------------------------------------------------------------- keras hooks
    def on_train_begin(self, logs: dict | None = None) -> None:
        self._fit_t0 = time.monotonic()
        if self._flag_set():  # set while the model was built: no batch at all
            self.model.stop_training = True
            self._mid_epoch_stop = True
            self.stop_reason = "stop_flag"

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_t0 = time.monotonic()
        self._cur_epoch = epoch
        self._steps = 0
        self._mid_epoch_stop = False
        self._set_lr(epoch, 0)
        if self.progress:
            from tqdm.auto import tqdm

            name = f"{self.unit}: " if self.unit else ""
            self._bar = tqdm(
                total=self.p.steps_per_epoch,
                desc=f"{name}epoch {epoch + 1}/{self.p.epochs}",
                unit="batch",
                leave=True,
                dynamic_ncols=True,
            )

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if batch and self.p.schedule != "constant":
            self._set_lr(self._cur_epoch, batch)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._bar is not None:
            if logs and "loss" in logs:
                self._bar.set_postfix(
                    loss=f"{float(logs['loss']):.4f}", lr=f"{self._lr:.2e}", refresh=False
                )
            self._bar.update(1)
        self._steps = batch + 1
        if not self.timings["first_batch_s"]:  # tracing the train step + one batch
            self.timings["first_batch_s"] = round(time.monotonic() - self._fit_t0, 3)
        if self._flag_set():
            self.model.stop_training = True
            self._mid_epoch_stop = batch + 1 < self.p.steps_per_epoch
            self.stop_reason = "stop_flag"
        elif self.deadline is not None and time.monotonic() >= self.deadline:
            # out of time inside an epoch: end it here; the short epoch is validated and kept
            self.model.stop_training = True
            self.stop_reason = self.stop_reason or "time_limit"

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        if self._mid_epoch_stop:  # a partial epoch is not recorded; the checkpoint stays older
            self._close_bar()
            log.info("stopped by stop flag inside epoch %d; not recorded", epoch + 1)
            return
        row = self._validate(epoch, logs)
        self._record(epoch, row)
        for fn in self.user_callbacks:
            if fn(epoch + 1, dict(row)) is True:
                self.model.stop_training = True
                self.stop_reason = self.stop_reason or "callback"
        logs.update({k: v for k, v in row.items() if isinstance(v, (int, float))})
        self._decide_stop(epoch)

    def on_train_end(self, logs: dict | None = None) -> None:
        self._close_bar()

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    # ---------------------------------------------------------------- epoch end steps
    def _validate(self, epoch: int, logs: dict) -> dict[str, Any]:
        from satseg.evaluation import jaccard_from_counts

        t0 = time.monotonic()
        if self._predict is None:
            fn = predict_fn(self.model)
            if self.exclusive:
                from satseg.data.exclusive import exclusive_scores

                self._predict = lambda x: exclusive_scores(fn(x))
            else:
                self._predict = fn
        counts = validation_counts(
            self._predict,
            self.val,
            self.input_size,
            self.output_size,
            threshold=self.p.threshold,
        )
        report = jaccard_from_counts(counts, self.class_names)
        row: dict[str, Any] = {"epoch": epoch + 1}
        if self.unit is not None:
            row["unit"] = self.unit
        row.update({k: float(v) for k, v in logs.items() if isinstance(v, (int, float, np.number))})
        row["lr"] = float(self._lr)
        if self._steps < self.p.steps_per_epoch:
            row["steps"] = int(self._steps)  # a short last epoch (time limit)
        mean = report.mean if not math.isnan(report.mean) else 0.0
        row["val_jaccard"] = float(mean)
        for name, j in report.per_class.items():
            row[f"val_jaccard_{name}"] = None if math.isnan(j) else float(j)
        row["train_s"] = round(t0 - self._epoch_t0, 3)
        row["val_s"] = round(time.monotonic() - t0, 3)
        self._epoch_times.append(time.monotonic() - self._epoch_t0)
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{row.get('loss', float('nan')):.4f}", val_j=f"{mean:.4f}")
            self._close_bar()
        log.info(
            "%sepoch %d: loss %.4f, val Jaccard %.4f (%s)",
            f"{self.unit}: " if self.unit else "",
            epoch + 1,
            row.get("loss", float("nan")),
            mean,
            ", ".join(f"{k} {v:.3f}" for k, v in report.per_class.items() if not math.isnan(v)),
        )
        return row

    def _record(self, epoch: int, row: dict[str, Any]) -> None:
        st = self.state
        st["history"].append(row)
        t_save = time.monotonic()
        improved = row["val_jaccard"] > st["best"] + 1e-6 or st["best_epoch"] is None
        if improved:
            st["best"], st["best_epoch"], st["bad_epochs"] = row["val_jaccard"], epoch + 1, 0
        if improved or self.p.keep == "last":
            atomic_save_model(self.model, self.model_path)
        if not improved:
            st["bad_epochs"] += 1
            if self.p.schedule == "plateau" and st["bad_epochs"] % self.p.plateau_patience == 0:
                st["plateau_lr"] = max(
                    st["plateau_lr"] * self.p.plateau_factor, self.p.min_learning_rate
                )
        st["epoch"] = epoch + 1
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        atomic_save_model(self.model, self.ckpt_dir / "last.keras")
        atomic_write_json(self.ckpt_dir / "state.json", st)
        self.timings["save_s"] += time.monotonic() - t_save
        if self.on_history is not None:
            self.on_history()

    def _decide_stop(self, epoch: int) -> None:
        st = self.state
        if self.p.early_stopping_patience and st["bad_epochs"] >= self.p.early_stopping_patience:
            self.model.stop_training = True
            self.stop_reason = self.stop_reason or "early_stopping"
        if self.deadline is not None and self._epoch_times and self.p.schedule != "cosine_time":
            # cosine_time decays to the deadline: train to it (a short last epoch), else stop
            # when the next whole epoch would not fit
            if time.monotonic() + float(np.mean(self._epoch_times)) > self.deadline:
                self.model.stop_training = True
                self.stop_reason = self.stop_reason or "time_limit"
        if self._flag_set():
            self.model.stop_training = True
            self.stop_reason = "stop_flag"
