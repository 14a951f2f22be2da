"""landscape: loss-landscape geometry of small neural networks, on JAX.

The public surface; everything else is private. See README.md for a worked example.
"""

from .config import (
    ConfigError as ConfigError,
    InitConfig as InitConfig,
    ModelConfig as ModelConfig,
    OptimizerConfig as OptimizerConfig,
    ScheduleConfig as ScheduleConfig,
    Study as Study,
    TaskConfig as TaskConfig,
    TrainConfig as TrainConfig,
    load_study as load_study,
    study_from_dict as study_from_dict,
    study_from_toml as study_from_toml,
)
from .models import Model as Model, make_mlp as make_mlp
from .runner import (
    StudyError as StudyError,
    format_summary as format_summary,
    prepare as prepare,
    run_study as run_study,
    summarize as summarize,
    train_networks as train_networks,
)
from .storage import Run as Run, RunFileError as RunFileError, describe_run as describe_run
from .tasks import Dataset as Dataset, make_dataset as make_dataset
from .training import (
    Status as Status,
    TrainResult as TrainResult,
    TrainSpec as TrainSpec,
    make_batch_trainer as make_batch_trainer,
    network_keys as network_keys,
    train_one as train_one,
)

# Analyses: each reads a run (or arrays) and returns arrays; storage and figures are separate.
from .alignment import align as align
from .basins import basin_map as basin_map, load_basins as load_basins
from .curvature import (
    dense_curvature as dense_curvature,
    hessian_function as hessian_function,
    lanczos_curvature as lanczos_curvature,
)
from .paths import barrier_matrix as barrier_matrix, train_bezier_batch as train_bezier_batch
from .report import build_report as build_report, render_report as render_report, report_path_for as report_path_for
from .slices import (
    barrier as barrier,
    line_losses as line_losses,
    plane_grid as plane_grid,
    plane_through_points as plane_through_points,
    random_plane as random_plane,
)
from .solutions import (
    classify_networks as classify_networks,
    classify_run as classify_run,
    type_labels as type_labels,
    type_representatives as type_representatives,
)
from .stats import wilson_interval as wilson_interval
from .sweeps import load_sweep as load_sweep, run_sweep as run_sweep

__version__ = "0.1.0"
