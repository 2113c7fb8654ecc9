"""Building blocks of the U-Net family, as serialisable Keras layers.

Every block maps ``(N, H, W, C_in) -> (N, H, W, filters)`` so the builder can swap them freely:

- :class:`PlainBlock`: n x (conv, [BN], activation) (Ronneberger et al. 2015, U-Net).
- :class:`ResidualBlock`: the same plus an identity (or 1x1 projection) shortcut, added before the
  last activation (He et al. 2016, "Deep Residual Learning").
- :class:`InceptionBlock`: n stacked "mini-networks" of four parallel branches, 1x1, 1x1 -> 3x3,
  1x1 -> 5x5 and 3x3 max-pool -> 1x1, concatenated (Szegedy et al. 2015, GoogLeNet).
- :class:`DenseBlock`: n layers of ([BN], activation, conv -> growth_rate channels), each fed the
  concatenation of all earlier outputs, then a 1x1 transition to ``filters``
  (Huang et al. 2017, DenseNet; Jegou et al. 2017, "The One Hundred Layers Tiramisu").
- :class:`PyramidPooling`: average-pool the map into b x b bins for each bin count b, 1x1 conv,
  bilinear upsample, concatenate with the input, 1x1 fuse to ``filters``
  (Zhao et al. 2017, PSPNet).

Layers create their sub-layers in ``__init__`` and build them in ``build()`` by a symbolic call,
so a saved ``.keras`` file reloads with its weights.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops


class _Composite(keras.layers.Layer):
    """Shared plumbing: conv/BN/activation settings, symbolic build, get_config."""

    def __init__(
        self,
        filters: int,
        *,
        kernel_size: int = 3,
        convs: int = 2,
        activation: str = "relu",
        batch_norm: bool = True,
        initializer: str = "he_uniform",
        l2: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.convs = int(convs)
        self.activation = activation
        self.batch_norm = bool(batch_norm)
        self.initializer = initializer
        self.l2 = float(l2)

    def _conv(self, filters: int, kernel: int, name: str) -> layers.Layer:
        return layers.Conv2D(
            filters,
            kernel,
            padding="same",
            use_bias=not self.batch_norm,
            kernel_initializer=self.initializer,
            kernel_regularizer=keras.regularizers.L2(self.l2) if self.l2 > 0 else None,
            name=name,
        )

    def _bn(self, name: str) -> layers.Layer | None:
        return layers.BatchNormalization(name=name) if self.batch_norm else None

    def _act(self, name: str) -> layers.Layer:
        return layers.Activation(self.activation, name=name)

    @staticmethod
    def _apply(layer: layers.Layer | None, x: Any, training: Any = None) -> Any:
        if layer is None:
            return x
        if isinstance(layer, layers.BatchNormalization):
            return layer(x, training=training)
        return layer(x)

    def build(self, input_shape: Any) -> None:
        # Build every sub-layer by tracing call() on a symbolic tensor (needed to reload weights).
        self.call(keras.KerasTensor(tuple(input_shape), dtype=self.compute_dtype))
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return (*tuple(input_shape)[:-1], self.filters)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "convs": self.convs,
                "activation": self.activation,
                "batch_norm": self.batch_norm,
                "initializer": self.initializer,
                "l2": self.l2,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="satseg")
class PlainBlock(_Composite):
    """n x (conv, [BN], activation)."""

    def __init__(self, filters: int, **kwargs: Any) -> None:
        super().__init__(filters, **kwargs)
        self.stages = [
            (
                self._conv(self.filters, self.kernel_size, f"conv{i}"),
                self._bn(f"bn{i}"),
                self._act(f"act{i}"),
            )
            for i in range(self.convs)
        ]

    def call(self, x: Any, training: Any = None) -> Any:
        for conv, bn, act in self.stages:
            x = act(self._apply(bn, conv(x), training))
        return x


@keras.saving.register_keras_serializable(package="satseg")
class ResidualBlock(_Composite):
    """n x (conv, [BN]) with activations between, shortcut added before the last activation."""

    def __init__(self, filters: int, **kwargs: Any) -> None:
        super().__init__(filters, **kwargs)
        self.stages = [
            (
                self._conv(self.filters, self.kernel_size, f"conv{i}"),
                self._bn(f"bn{i}"),
                self._act(f"act{i}"),
            )
            for i in range(self.convs)
        ]
        self.project = self._conv(self.filters, 1, "project")
        self.project_bn = self._bn("project_bn")

    def call(self, x: Any, training: Any = None) -> Any:
        shortcut = x
        if x.shape[-1] != self.filters:
            shortcut = self._apply(self.project_bn, self.project(x), training)
        for i, (conv, bn, act) in enumerate(self.stages):
            x = self._apply(bn, conv(x), training)
            if i < len(self.stages) - 1:
                x = act(x)
        return self.stages[-1][2](x + shortcut)


@keras.saving.register_keras_serializable(package="satseg")
class InceptionBlock(_Composite):
    """n stacked inception modules; each splits ``filters`` over 4 branches (1x1/3x3/5x5/pool)."""

    def __init__(self, filters: int, **kwargs: Any) -> None:
        super().__init__(filters, **kwargs)
        if self.filters < 4:
            raise ValueError(f"InceptionBlock needs filters >= 4 (4 branches), got {filters}")
        quarter = self.filters // 4
        widths = [self.filters - 3 * quarter, quarter, quarter, quarter]
        self.modules = []
        for m in range(self.convs):
            branch1 = [self._conv(widths[0], 1, f"m{m}_b1_conv")]
            branch3 = [
                self._conv(quarter, 1, f"m{m}_b3_reduce"),
                self._conv(widths[1], 3, f"m{m}_b3_conv"),
            ]
            branch5 = [
                self._conv(quarter, 1, f"m{m}_b5_reduce"),
                self._conv(widths[2], 5, f"m{m}_b5_conv"),
            ]
            pool = [
                layers.MaxPooling2D(3, strides=1, padding="same", name=f"m{m}_pool"),
                self._conv(widths[3], 1, f"m{m}_pool_conv"),
            ]
            self.modules.append(
                {
                    "branches": [branch1, branch3, branch5, pool],
                    "concat": layers.Concatenate(name=f"m{m}_concat"),
                    "bn": self._bn(f"m{m}_bn"),
                    "act": self._act(f"m{m}_act"),
                }
            )

    def call(self, x: Any, training: Any = None) -> Any:
        for module in self.modules:
            outs = []
            for branch in module["branches"]:
                y = x
                for layer in branch:
                    y = layer(y)
                outs.append(y)
            x = module["act"](self._apply(module["bn"], module["concat"](outs), training))
        return x


@keras.saving.register_keras_serializable(package="satseg")
class DenseBlock(_Composite):
    """Densely connected layers ([BN], act, conv -> growth_rate), then a 1x1 transition."""

    def __init__(self, filters: int, *, growth_rate: int = 8, **kwargs: Any) -> None:
        super().__init__(filters, **kwargs)
        self.growth_rate = int(growth_rate)
        self.dense_layers = [
            (
                self._bn(f"bn{i}"),
                self._act(f"act{i}"),
                self._conv(self.growth_rate, self.kernel_size, f"conv{i}"),
            )
            for i in range(self.convs)
        ]
        self.transition_bn = self._bn("transition_bn")
        self.transition_act = self._act("transition_act")
        self.transition = self._conv(self.filters, 1, "transition")

    def call(self, x: Any, training: Any = None) -> Any:
        features = [x]
        for bn, act, conv in self.dense_layers:
            inp = features[0] if len(features) == 1 else ops.concatenate(features, axis=-1)
            features.append(conv(act(self._apply(bn, inp, training))))
        x = ops.concatenate(features, axis=-1)
        return self.transition(self.transition_act(self._apply(self.transition_bn, x, training)))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["growth_rate"] = self.growth_rate
        return config


@keras.saving.register_keras_serializable(package="satseg")
class PyramidPooling(_Composite):
    """PSPNet pyramid pooling over a square map whose side every bin count divides."""

    def __init__(
        self, filters: int, *, bins: tuple[int, ...] | list[int] = (1, 2), **kwargs: Any
    ) -> None:
        kwargs.setdefault("convs", 1)
        super().__init__(filters, **kwargs)
        self.bins = [int(b) for b in bins]
        branch_filters = max(1, self.filters // len(self.bins))
        self.branches = [
            (
                self._conv(branch_filters, 1, f"bin{b}_conv"),
                self._bn(f"bin{b}_bn"),
                self._act(f"bin{b}_act"),
            )
            for b in self.bins
        ]
        self.fuse = self._conv(self.filters, 1, "fuse")
        self.fuse_bn = self._bn("fuse_bn")
        self.fuse_act = self._act("fuse_act")

    def call(self, x: Any, training: Any = None) -> Any:
        size = x.shape[1]
        outs = [x]
        for b, (conv, bn, act) in zip(self.bins, self.branches, strict=True):
            step = size // b
            y = ops.average_pool(x, pool_size=step, strides=step, padding="valid")
            y = act(self._apply(bn, conv(y), training))
            y = ops.image.resize(y, (size, size), interpolation="bilinear")
            outs.append(y)
        x = ops.concatenate(outs, axis=-1)
        return self.fuse_act(self._apply(self.fuse_bn, self.fuse(x), training))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["bins"] = list(self.bins)
        return config


BLOCKS: dict[str, type[_Composite]] = {
    "plain": PlainBlock,
    "residual": ResidualBlock,
    "inception": InceptionBlock,
    "dense": DenseBlock,
}
