"""torch.<name> spellings (ATen signatures) of the nn ops added in embedding_bag.py and
grid_sample.py: embedding_bag, grid_sampler, grid_sampler_2d, grid_sampler_3d,
affine_grid_generator."""

from __future__ import annotations

from .._tensor import Tensor
from .embedding_bag import embedding_bag_aten as embedding_bag
from .grid_sample import affine_grid_generator, grid_sampler, grid_sampler_nd

__all__ = ["embedding_bag", "grid_sampler", "grid_sampler_2d", "grid_sampler_3d",
           "affine_grid_generator"]


def grid_sampler_2d(input: Tensor, grid: Tensor, interpolation_mode: int,  # noqa: A002
                    padding_mode: int, align_corners: bool) -> Tensor:
    """ATen's grid_sampler_2d: grid_sampler for 4-D input."""
    return grid_sampler_nd(2, input, grid, interpolation_mode, padding_mode, align_corners)


def grid_sampler_3d(input: Tensor, grid: Tensor, interpolation_mode: int,  # noqa: A002
                    padding_mode: int, align_corners: bool) -> Tensor:
    """ATen's grid_sampler_3d: grid_sampler for 5-D input."""
    return grid_sampler_nd(3, input, grid, interpolation_mode, padding_mode, align_corners)
