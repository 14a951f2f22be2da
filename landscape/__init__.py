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

__version__ = "0.1.0"
