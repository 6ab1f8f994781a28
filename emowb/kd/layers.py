"""Small building blocks shared by the EmoDistill teachers and students.

Sequence models here see padded batches. To make an utterance's output independent of what it
is batched with (evaluation batches are length-sorted, training batches bucketed), every
convolutional stage zeroes the padded frames of its output and pooling averages only real
frames. (BatchNorm in training still sees the zeroed padding in its batch statistics; at
evaluation it uses running statistics, so evaluation outputs are padding-invariant.)
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

__all__ = ["masked_mean", "frame_mask", "downsampled_lengths", "ResidualBlock2d", "ConvBlock2d"]


def frame_mask(lengths: torch.Tensor, t_max: int) -> torch.Tensor:
    """(B, t_max) bool, True on the first ``lengths[b]`` frames."""
    return torch.arange(t_max, device=lengths.device)[None, :] < lengths[:, None]


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Mean of ``x`` (B, T, ...) over the frames where ``mask`` (B, T) is True.

    A row with no true frame gives zeros (never NaN).
    """
    m = mask.to(x.dtype)
    while m.ndim < x.ndim:
        m = m.unsqueeze(-1)
    return (x * m).sum(dim) / m.sum(dim).clamp(min=1.0)


def downsampled_lengths(lengths: torch.Tensor, stride: int) -> torch.Tensor:
    """Valid frames after a stride-``stride`` conv / pool with 'same'-style padding: ceil(L / s)."""
    return torch.div(lengths + stride - 1, stride, rounding_mode="floor")


class ResidualBlock2d(nn.Module):
    """A ResNet basic block (He et al. 2016) over (B, C, T, F) maps.

    ``y = ReLU(BN(conv3x3(ReLU(BN(conv3x3_s(x))))) + shortcut(x))`` with a strided 1×1 conv + BN
    shortcut when the shape changes. Stride applies to time and frequency.
    """

    def __init__(self, c_in: int, c_out: int, *, stride: int = 1) -> None:
        super().__init__()
        self.stride = int(stride)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = (nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))
                         if stride != 1 or c_in != c_out else nn.Identity())

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C_in, T, F), (B,) -> (B, C_out, T', F'), (B,) with padded frames zeroed."""
        lengths = downsampled_lengths(lengths, self.stride)
        h = F.relu(self.bn1(self.conv1(x)))
        mask = frame_mask(lengths, h.shape[2])[:, None, :, None].to(h.dtype)
        h = self.bn2(self.conv2(h * mask))      # zero padding again before the second conv
        y = F.relu(h + self.shortcut(x))
        return y * mask, lengths


class ConvBlock2d(nn.Module):
    """``MaxPool2d(2)(ReLU(BN(conv3x3(x))))`` over (B, C, T, F), padded frames zeroed."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = F.relu(self.bn(self.conv(x)))
        y = y * frame_mask(lengths, y.shape[2])[:, None, :, None].to(y.dtype)
        # ceil_mode keeps a last odd frame (ceil(L/2) valid frames); values are >= 0 after the
        # ReLU, so the zeroed padding never wins a max over real frames
        y = F.max_pool2d(y, 2, ceil_mode=True)
        lengths = downsampled_lengths(lengths, 2)
        return y * frame_mask(lengths, y.shape[2])[:, None, :, None].to(y.dtype), lengths
