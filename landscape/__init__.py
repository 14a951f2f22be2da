"""landscape: loss-landscape geometry of small neural networks, on JAX.

The public surface; everything else is private. See README.md for a worked example.
"""

from typing import TYPE_CHECKING

# Public name -> the module that defines it. Modules load on first use (PEP 562 module
# __getattr__), so `import landscape` and the command line start without importing JAX.
_EXPORTS = {
    "alignment": ("align",),
    "basins": (
        "basin_map",
        "load_basins",
    ),
    "batching": ("chunked_map",),
    "config": (
        "ConfigError",
        "InitConfig",
        "ModelConfig",
        "OptimizerConfig",
        "ScheduleConfig",
        "Study",
        "TaskConfig",
        "TrainConfig",
        "load_study",
        "study_from_dict",
        "study_from_toml",
    ),
    "curvature": (
        "CurvatureResult",
        "analyse_run",
        "dense_curvature",
        "format_curvature_table",
        "hessian_function",
        "lanczos_curvature",
    ),
    "gpu_mlp": ("make_gpu_batch_trainer",),
    "landscape_map": (
        "MapResult",
        "MapSettings",
        "disconnectivity_tree",
        "map_run",
    ),
    "models": (
        "Model",
        "make_mlp",
    ),
    "paths": (
        "PathsResult",
        "barrier_matrix",
        "barriers_run",
        "train_bezier_batch",
    ),
    "points": ("resolve_point",),
    "problem": (
        "ModelUnavailable",
        "Problem",
        "problem_of",
        "problem_of_study",
    ),
    "report": (
        "build_report",
        "render_report",
        "report_path_for",
    ),
    "runner": (
        "StudyError",
        "auto_chunk_size",
        "format_summary",
        "prepare",
        "run_study",
        "summarize",
        "train_networks",
        "x64_scope",
    ),
    "saddles": (
        "describe_kind",
        "stationary_kind",
    ),
    "slices": (
        "SliceResult",
        "barrier",
        "filter_normalise",
        "line_losses",
        "plane_grid",
        "plane_through_points",
        "random_plane",
        "read_slices",
        "slice_run",
    ),
    "solutions": (
        "TypesResult",
        "classify_networks",
        "classify_run",
        "type_labels",
        "type_representatives",
    ),
    "stats": ("wilson_interval",),
    "storage": (
        "IncompleteRun",
        "Run",
        "RunFileError",
        "describe_run",
        "drop_group",
        "finished_networks",
        "write_group",
    ),
    "sweeps": (
        "load_sweep",
        "run_sweep",
    ),
    "tasks": (
        "Dataset",
        "make_dataset",
    ),
    "vocabulary": ("Status",),
    "training": (
        "TrainResult",
        "TrainSpec",
        "make_batch_trainer",
        "network_keys",
        "train_one",
    ),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # what type checkers and IDEs see: the eager imports
    from .alignment import align as align
    from .basins import basin_map as basin_map
    from .basins import load_basins as load_basins
    from .batching import chunked_map as chunked_map
    from .config import ConfigError as ConfigError
    from .config import InitConfig as InitConfig
    from .config import ModelConfig as ModelConfig
    from .config import OptimizerConfig as OptimizerConfig
    from .config import ScheduleConfig as ScheduleConfig
    from .config import Study as Study
    from .config import TaskConfig as TaskConfig
    from .config import TrainConfig as TrainConfig
    from .config import load_study as load_study
    from .config import study_from_dict as study_from_dict
    from .config import study_from_toml as study_from_toml
    from .curvature import CurvatureResult as CurvatureResult
    from .curvature import analyse_run as analyse_run
    from .curvature import dense_curvature as dense_curvature
    from .curvature import format_curvature_table as format_curvature_table
    from .curvature import hessian_function as hessian_function
    from .curvature import lanczos_curvature as lanczos_curvature
    from .gpu_mlp import make_gpu_batch_trainer as make_gpu_batch_trainer
    from .landscape_map import MapResult as MapResult
    from .landscape_map import MapSettings as MapSettings
    from .landscape_map import disconnectivity_tree as disconnectivity_tree
    from .landscape_map import map_run as map_run
    from .models import Model as Model
    from .models import make_mlp as make_mlp
    from .paths import PathsResult as PathsResult
    from .paths import barrier_matrix as barrier_matrix
    from .paths import barriers_run as barriers_run
    from .paths import train_bezier_batch as train_bezier_batch
    from .points import resolve_point as resolve_point
    from .problem import ModelUnavailable as ModelUnavailable
    from .problem import Problem as Problem
    from .problem import problem_of as problem_of
    from .problem import problem_of_study as problem_of_study
    from .report import build_report as build_report
    from .report import render_report as render_report
    from .report import report_path_for as report_path_for
    from .runner import StudyError as StudyError
    from .runner import auto_chunk_size as auto_chunk_size
    from .runner import format_summary as format_summary
    from .runner import prepare as prepare
    from .runner import run_study as run_study
    from .runner import summarize as summarize
    from .runner import train_networks as train_networks
    from .runner import x64_scope as x64_scope
    from .saddles import describe_kind as describe_kind
    from .saddles import stationary_kind as stationary_kind
    from .slices import SliceResult as SliceResult
    from .slices import barrier as barrier
    from .slices import filter_normalise as filter_normalise
    from .slices import line_losses as line_losses
    from .slices import plane_grid as plane_grid
    from .slices import plane_through_points as plane_through_points
    from .slices import random_plane as random_plane
    from .slices import read_slices as read_slices
    from .slices import slice_run as slice_run
    from .solutions import TypesResult as TypesResult
    from .solutions import classify_networks as classify_networks
    from .solutions import classify_run as classify_run
    from .solutions import type_labels as type_labels
    from .solutions import type_representatives as type_representatives
    from .stats import wilson_interval as wilson_interval
    from .storage import IncompleteRun as IncompleteRun
    from .storage import Run as Run
    from .storage import RunFileError as RunFileError
    from .storage import describe_run as describe_run
    from .storage import drop_group as drop_group
    from .storage import finished_networks as finished_networks
    from .storage import write_group as write_group
    from .sweeps import load_sweep as load_sweep
    from .sweeps import run_sweep as run_sweep
    from .tasks import Dataset as Dataset
    from .tasks import make_dataset as make_dataset
    from .training import TrainResult as TrainResult
    from .training import TrainSpec as TrainSpec
    from .training import make_batch_trainer as make_batch_trainer
    from .training import network_keys as network_keys
    from .training import train_one as train_one
    from .vocabulary import Status as Status

__version__ = "0.1.0"
