"""Window stacks and accumulators of one row of windows for :func:`blend_predict`, per view frame.

A dihedral view is a y-flip, an x-flip and a transpose. In NumPy's (y, x, channel) layout a y-flip
is cheap (whole rows reversed) while an x-flip or a transpose moves single pixels (the innermost
run is one pixel's few channels): copying through them is 4-10x slower than a plain copy. So
neither the model inputs nor the outputs go through those per window and view:

- inputs: once per row of windows, the strip is copied x-flipped, transposed and transposed +
  flipped (as the views need); every view's batch is then a plain or row-reversed strided slice;
- outputs (arithmetic mean): four accumulators, one per frame (plain, x-flipped, transposed,
  transposed + flipped), receive each view's weighted windows with only row reversals; the frames
  are turned back and summed once per finished output row (once per pixel instead of once per
  pixel, window and view). The squared-spline weight is symmetric under every view, so it is
  applied in the view's own frame.

The geometric mean is not linear in the views: it is combined per window in the plain frame.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from satseg.inference.windows import View

Frame = tuple[int, int]  # (transposed, flipped): flipped is x for plain frames, y for transposed


def pixels(a: np.ndarray) -> np.ndarray:
    """``a`` without its last axis, each element one pixel's channels as raw bytes (a view):
    flips and transposes of it move whole pixels per element, 2-3x faster than per channel."""
    if a.strides[-1] != a.itemsize:
        a = np.ascontiguousarray(a)
    return a.view(np.dtype((np.void, a.shape[-1] * a.itemsize)))[..., 0]


def moved(a: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A contiguous copy of the pixel array ``a`` (from :func:`pixels`) as floats like ``like``."""
    out = np.ascontiguousarray(a)
    return out[..., None].view(like.dtype)


def frame_of(view: View) -> tuple[Frame, int]:
    """``((t, f), g)``: the frame a view's output is accumulated in and its cheap row flip ``g``."""
    fy, fx, t = view
    return ((1, fy), fx) if t else ((0, fx), fy)


def window_stacks(
    strip: np.ndarray, window: int, stride: int, nx: int, views: tuple[View, ...]
) -> dict[Frame, np.ndarray]:
    """``{frame: (nx, window, window, C) strided windows}`` of a ``(window, Wi, C)`` strip."""

    def along_x(a: np.ndarray) -> np.ndarray:  # (window, Wi, C) -> (nx, y, x, C)
        w = sliding_window_view(a, window, axis=1)[:, ::stride][:, :nx]
        return w.transpose(1, 0, 3, 2)

    def along_rows(a: np.ndarray) -> np.ndarray:  # (Wi, window, C) -> (nx, x, y, C)
        w = sliding_window_view(a, window, axis=0)[::stride][:nx]
        return w.transpose(0, 3, 1, 2)

    frames = {frame_of(v)[0] for v in views}
    stacks: dict[Frame, np.ndarray] = {}
    if (0, 0) in frames:
        stacks[(0, 0)] = along_x(strip)
    if (0, 1) in frames:  # window j of the flipped strip is window nx-1-j flipped
        stacks[(0, 1)] = along_x(moved(pixels(strip)[:, ::-1], strip))[::-1]
    if (1, 0) in frames or (1, 1) in frames:
        strip_t = moved(pixels(strip).T, strip)  # (Wi, window, C)
        if (1, 0) in frames:
            stacks[(1, 0)] = along_rows(strip_t)
        if (1, 1) in frames:  # a flip within rows: cheaper than a second transpose
            stacks[(1, 1)] = along_rows(moved(pixels(strip_t)[:, ::-1], strip))
    return stacks


def batch_of(stacks: dict[Frame, np.ndarray], view: View, j0: int, n: int) -> np.ndarray:
    """The model input of windows ``j0:j0+n`` in ``view`` (a strided view, no copy)."""
    frame, g = frame_of(view)
    s = stacks[frame][j0 : j0 + n]
    return s[:, ::-1] if g else s


class Frames:
    """Float32 accumulators of one row of output windows (``out`` rows, ``Wa`` columns)."""

    def __init__(
        self,
        out: int,
        stride: int,
        offsets: np.ndarray,
        K: int,
        views: tuple[View, ...],
        geometric: bool,
    ):
        self.out, self.stride, self.K = out, stride, K
        self.offsets = [int(o) for o in offsets]
        self._w: tuple[np.ndarray, np.ndarray] | None = None
        self.Wa = self.offsets[-1] + out
        frames = {(0, 0)} if geometric else {frame_of(v)[0] for v in views}
        self.acc = np.zeros((out, self.Wa, K), np.float32)
        plain = (out, self.Wa, K)
        turned = (self.Wa, out, K)
        self.xf = np.zeros(plain, np.float32) if (0, 1) in frames else None
        self.t = np.zeros(turned, np.float32) if (1, 0) in frames else None
        self.tyf = np.zeros(turned, np.float32) if (1, 1) in frames else None
        self._gbuf = np.empty((2, out, out, K), np.float32) if geometric else None
        self._buf: np.ndarray | None = None

    def add_view(self, p: np.ndarray, view: View, j0: int, weight: np.ndarray) -> None:
        """Add one view's outputs of windows ``j0:j0+len(p)``, times ``weight``."""
        if self._buf is None:
            self._buf = np.empty((self.out, self.out, self.K), np.float32)
        buf, w = self._buf, self._full(weight)
        (t, f), g = frame_of(view)
        pv = p[:, ::-1] if g else p
        out, Wa = self.out, self.Wa
        for i in range(len(p)):
            # weighted in a one-window buffer that stays in cache: the batch is read once
            np.multiply(pv[i], w, out=buf)
            o = self.offsets[j0 + i]
            if not t and not f:
                self.acc[:, o : o + out] += buf
            elif not t:
                self.xf[:, Wa - o - out : Wa - o] += buf  # type: ignore[index]
            else:
                dst = self.tyf if f else self.t
                dst[o : o + out] += buf  # type: ignore[index]

    def add_geometric(
        self, outs: list[tuple[View, np.ndarray]], j0: int, weight: np.ndarray, eps: float
    ) -> None:
        """Add ``weight * exp(mean over views of log p)`` per window (p arrays are modified)."""
        assert self._gbuf is not None
        wbuf, tbuf = self._gbuf
        any_t = any(v[2] for v, _ in outs)
        for _, p in outs:
            np.maximum(p, eps, out=p)
            np.log(p, out=p)
        for i in range(len(outs[0][1])):
            first = [True, True]
            for (fy, fx, t), p in outs:
                # inverse of the view, in the transposed frame for views with a transpose
                src = p[i, :: -1 if fx else 1, :: -1 if fy else 1] if t else (
                    p[i, :: -1 if fy else 1, :: -1 if fx else 1])  # fmt: skip
                dst = tbuf if t else wbuf
                if first[t]:
                    np.copyto(dst, src)
                    first[t] = False
                else:
                    np.add(dst, src, out=dst)
            if any_t:
                np.add(wbuf, tbuf.transpose(1, 0, 2), out=wbuf)
            wbuf *= 1.0 / len(outs)
            np.exp(wbuf, out=wbuf)
            wbuf *= self._full(weight)
            o = self.offsets[j0 + i]
            self.acc[:, o : o + self.out] += wbuf

    def _full(self, weight: np.ndarray) -> np.ndarray:
        """``weight`` (out, out, 1) repeated over the classes: a broadcast over a short last axis
        makes NumPy's inner loop a few elements long (2-3x slower)."""
        if self._w is None or self._w[0] is not weight:
            full = np.ascontiguousarray(np.broadcast_to(weight, (self.out, self.out, self.K)))
            self._w = (weight, full)
        return self._w[1]

    def fold(self, done: int) -> None:
        """Turn the other frames' first ``done`` rows back and add them to the plain frame."""
        a = self.acc[:done]
        if self.xf is not None:
            a += moved(pixels(self.xf[:done])[:, ::-1], a)
        if self.t is not None:
            a += moved(pixels(self.t[:, :done]).T, a)
        if self.tyf is not None:
            a += moved(pixels(self.tyf[:, self.out - done :])[:, ::-1].T, a)

    def shift(self) -> None:
        """Move on by one stride of rows: drop the first ``stride`` rows, zero the last ones."""
        s, keep = self.stride, self.out - self.stride
        for a in (self.acc, self.xf):
            if a is not None:
                a[:keep] = a[s:]
                a[keep:] = 0
        if self.t is not None:
            self.t[:, :keep] = self.t[:, s:]
            self.t[:, keep:] = 0
        if self.tyf is not None:  # y runs backwards in this frame
            self.tyf[:, s:] = self.tyf[:, :keep]
            self.tyf[:, :s] = 0
