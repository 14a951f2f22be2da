"""The run file: one HDF5 file per study, self-describing, written chunk by chunk.

Layout (``LAYOUT_VERSION`` 1; leading axis = network index wherever it applies)::

    /                       attrs: format="landscape-run", layout_version, name, config_toml,
                            config_json, seed, n_inits, chunk_size, n_chunks, created, versions,
                            backend, devices, x64, model, complete (bool), finished (time)
    /data/x                 (n_points, in_dim)        inputs shared by every network
    /data/y                 (n_points,) | (n_points, out_dim)
    /init/params/<path>     (n_inits, ...)            one dataset per parameter array, e.g. 0/w
    /final/params/<path>    (n_inits, ...)
    /train/final_loss       (n_inits,)                loss on the full data after training
    /train/grad_norm        (n_inits,)
    /train/status           (n_inits,) int8           attrs["codes"]: JSON {name: code}
    /train/steps            (n_inits,) int32          optimiser updates applied
    /train/trajectory       (n_inits, n_record)       loss before the update at trajectory_steps
    /train/trajectory_steps (n_record,) int64
    /train/chunk_done       (n_chunks,) uint8         1 once a chunk is written and flushed
    /train/chunk_seconds    (n_chunks,) float64       wall time of each chunk
    /<analysis>/...         groups added later (types/, hessian/, slices/, basins/, sweep/)

Crash safety: the file is created under a temporary name with every training dataset
allocated up front, then renamed into place. Training only overwrites raw bytes of those
datasets (never HDF5 metadata), flushes, then sets the chunk's ``chunk_done`` flag and
flushes again, so a killed study leaves a readable file whose finished chunks are intact.
``complete`` becomes true only after the last chunk is flushed.

Analyses are published, never edited in place: :func:`write_group` (and :func:`drop_group`)
build a new file beside the run file holding a copy of every object except the group being
replaced, add the new group, flush and fsync it, then ``os.replace`` it over the run file and
fsync the folder. A kill at any moment leaves either the old file or the new one (a stray
``.<name>.*.publish.tmp`` at worst, removed by the next publish); readers holding the old file
keep reading the old inode; re-running an analysis does not grow the file; a failed write
(full disk, read-only folder) leaves the run file byte-identical. Publishes and training's
chunk writes take an exclusive ``flock`` on the run file, so neither loses the other's work.
Damaged files are refused (:class:`RunFileError`) before anything is written.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .config import ConfigError, Study, study_from_dict

FORMAT = "landscape-run"
LAYOUT_VERSION = 1
TRAIN_DATASETS = ("final_loss", "grad_norm", "status", "steps", "trajectory")


class RunFileError(Exception):
    """A file is not a readable landscape run (wrong format, version, truncated, missing)."""


# ---------------------------------------------------------------------------------------------
# Parameter pytrees <-> flat {"0/w": array} dicts.


def _key_name(entry: Any) -> str:
    for attr in ("key", "idx", "name"):
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return str(entry)


def flatten_params(tree: Any) -> dict[str, np.ndarray]:
    """``[{"w": a, "b": b}, ...]`` -> ``{"0/w": a, "0/b": b, ...}`` (NumPy arrays)."""
    import jax

    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {"/".join(_key_name(k) for k in path): np.asarray(leaf) for path, leaf in leaves}


def nest_paths(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"0/w": a}`` -> ``{"0": {"w": a}}``: slash-separated paths to nested dicts."""
    root: dict[str, Any] = {}
    for path, value in flat.items():
        node = root
        parts = path.split("/")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return root


def unflatten_params(flat: dict[str, np.ndarray]) -> Any:
    """Inverse of :func:`flatten_params`: groups whose keys are 0..k-1 become lists."""
    root = nest_paths(flat)

    def listify(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        node = {k: listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node) and sorted(int(k) for k in node) == list(range(len(node))):
            return [node[str(i)] for i in range(len(node))]
        return node

    return listify(root)


# ---------------------------------------------------------------------------------------------
# Creating and filling a run file.


def _open(path: str | Path, mode: str) -> h5py.File:
    """Open without HDF5 file locks: the writer opens and closes per chunk, readers stay open."""
    return h5py.File(path, mode, locking=False)


def _early_dataset(group: h5py.Group, name: str, shape: tuple[int, ...], dtype: Any, fill: Any) -> h5py.Dataset:
    """A contiguous dataset whose storage (and fill value) is allocated at creation.

    Later writes then touch only raw data, never the file's metadata: see the module doc.
    """
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_ALLOC)
    dcpl.set_fill_value(np.array(fill, dtype=dtype))
    return group.create_dataset(name, shape=shape, dtype=dtype, dcpl=dcpl)


def package_versions() -> dict[str, str]:
    from importlib import metadata

    versions = {}
    for name in ("landscape", "jax", "jaxlib", "optax", "numpy", "scipy", "h5py", "matplotlib"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    versions["hdf5"] = h5py.version.hdf5_version
    return versions


def create_run_file(
    path: str | Path,
    study: Study,
    x: np.ndarray,
    y: np.ndarray,
    param_shapes: dict[str, tuple[tuple[int, ...], Any]],
    record_steps: np.ndarray,
    chunk_size: int,
    metadata: dict[str, Any],
) -> None:
    """Write a new, empty run file atomically (temporary name, then ``os.replace``).

    Args:
      param_shapes: per-network parameter shapes and dtypes, ``{"0/w": ((2, 3), float32)}``.
      record_steps: ``(n_record,)`` steps at which trajectories are recorded.
      metadata: extra root attributes (backend, devices, model name, ...).
    """
    path = Path(path)
    n = study.n_inits
    n_chunks = -(-n // chunk_size)
    float_dtype = np.float64 if study.train.dtype == "float64" else np.float32
    tmp_name = _new_temp(path, "create")
    try:
        with _open(tmp_name, "w") as f:
            f.attrs.update(
                {
                    "format": FORMAT,
                    "layout_version": LAYOUT_VERSION,
                    "name": study.name,
                    "config_toml": study.to_toml(),
                    "config_json": study.to_json(),
                    "seed": study.seed,
                    "n_inits": n,
                    "chunk_size": chunk_size,
                    "n_chunks": n_chunks,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "versions": json.dumps(package_versions()),
                    "complete": False,
                    **metadata,
                }
            )
            data = f.create_group("data")
            data.create_dataset("x", data=x)
            data.create_dataset("y", data=y)
            for stage in ("init", "final"):
                params = f.create_group(f"{stage}/params")
                for name, (shape, dtype) in param_shapes.items():
                    _early_dataset(params, name, (n, *shape), dtype, np.nan)
            train = f.create_group("train")
            _early_dataset(train, "final_loss", (n,), float_dtype, np.nan)
            _early_dataset(train, "grad_norm", (n,), float_dtype, np.nan)
            status = _early_dataset(train, "status", (n,), np.int8, -1)
            from .training import Status

            status.attrs["codes"] = json.dumps(Status.describe())
            _early_dataset(train, "steps", (n,), np.int32, 0)
            traj = _early_dataset(train, "trajectory", (n, len(record_steps)), float_dtype, np.nan)
            traj.attrs["meaning"] = "training loss before the optimiser update at trajectory_steps (0-based)"
            train.create_dataset("trajectory_steps", data=np.asarray(record_steps, dtype=np.int64))
            _early_dataset(train, "chunk_done", (n_chunks,), np.uint8, 0)
            _early_dataset(train, "chunk_seconds", (n_chunks,), np.float64, np.nan)
            f.flush()
        _fsync(tmp_name)
        with locked(path) if path.exists() else contextlib.nullcontext():  # not under a publish
            os.replace(tmp_name, path)
        _fsync_folder(path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _new_temp(path: Path, kind: str) -> Path:
    """An empty new file beside ``path``, created with the usual permissions (``0o666 & ~umask``)."""
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.{kind}.tmp"
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    return tmp


def _fsync(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(path: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems refuse fsync on a folder
        _fsync(path.parent)


@contextlib.contextmanager
def locked(path: str | Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the run file now at ``path`` (waiting for other holders).

    Training's chunk writes and analysis publishes both take it. A publish replaces the file,
    so after the lock is granted the path is checked to still name the locked inode; if it was
    replaced meanwhile, the new file is locked instead.
    """
    path = Path(path)
    while True:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise RunFileError(f"{path}: no such file") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                try:
                    yield
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                return
        finally:
            os.close(fd)


def write_chunk(
    path: str | Path,
    chunk: int,
    start: int,
    init_params: dict[str, np.ndarray],
    final_params: dict[str, np.ndarray],
    results: dict[str, np.ndarray],
    seconds: float,
) -> None:
    """Store one finished chunk (networks ``start:start+len``), then mark it done.

    Only raw data is written; the done flag is set after the data is flushed.
    """
    with locked(path), _open(path, "r+") as f:
        count = len(results["final_loss"])
        sl = slice(start, start + count)
        for name, value in init_params.items():
            f[f"init/params/{name}"][sl] = value
        for name, value in final_params.items():
            f[f"final/params/{name}"][sl] = value
        for name in TRAIN_DATASETS:
            f[f"train/{name}"][sl] = results[name]
        f["train/chunk_seconds"][chunk] = seconds
        f.flush()
        f["train/chunk_done"][chunk] = 1
        f.flush()


def mark_complete(path: str | Path, attrs: dict[str, Any]) -> None:
    with locked(path), _open(path, "r+") as f:
        f.attrs.update(attrs)
        f.flush()
        f.attrs["complete"] = True
        f.flush()


RESERVED = ("data", "init", "final", "train")
PUBLISH_PAUSE_ENV = "LANDSCAPE_TEST_PUBLISH_PAUSE"  # test hook: seconds to sleep mid-publish


def write_group(path: str | Path, name: str, arrays: dict[str, Any], attrs: dict[str, Any] | None = None) -> None:
    """Add (or replace) an analysis group ``/<name>`` of arrays and attributes, atomically.

    Nested dicts become subgroups; strings and scalars in ``attrs`` become attributes.
    Training datasets are never touched. The file is republished whole (see the module doc):
    a kill, a full disk or a read-only folder leaves the previous file as it was.

    Raises:
      RunFileError: the file is missing or damaged, or cannot be written (one line).
    """
    _check_name(name)
    stamp = _training_state_of(path)

    def add(f: h5py.File) -> None:
        group = f.require_group(name.rsplit("/", 1)[0]) if "/" in name else f
        group = group.create_group(name.rsplit("/", 1)[-1])
        _write_tree(group, arrays)
        for key, value in (attrs or {}).items():
            group.attrs[key] = value if not isinstance(value, (dict, list)) else json.dumps(value)
        if "training_state" not in group.attrs:  # what the analysis was computed from (see Run.analysis_state)
            group.attrs["training_state"] = stamp

    _publish(Path(path), name, add, extra_bytes=_tree_bytes(arrays))


def _training_state(f: h5py.File) -> str:
    """A fingerprint of the training results (chunks done, statuses, final losses): changes whenever
    training adds or changes a network, so an analysis stamped with another value is stale."""
    digest = hashlib.sha1()
    for name in ("train/chunk_done", "train/status", "train/final_loss"):
        digest.update(np.ascontiguousarray(f[name][()]).tobytes())
    return digest.hexdigest()[:16]


def attr_list(attrs: dict[str, Any], key: str) -> list[Any]:
    """A list attribute of a stored group (lists are stored as JSON text; see :func:`write_group`), or []."""
    value = attrs.get(key, [])
    return json.loads(value) if isinstance(value, str) else list(value)


def _training_state_of(path: str | Path) -> str:
    """:func:`_training_state` of a run file on disk (read before a publish writes anything)."""
    if not Path(path).exists():
        raise RunFileError(f"{path}: no such file")
    try:
        with _open(path, "r") as f:
            return _training_state(f)
    except (OSError, KeyError, RuntimeError, ValueError) as err:
        raise RunFileError(f"{path}: damaged run file ({_short(err)}); nothing was written to it") from None


class IncompleteRun(RunFileError):
    """An analysis was asked of a run whose training has not finished (and --finished-only was not given)."""


def finished_networks(run: Run, finished_only: bool = False) -> np.ndarray:
    """``(n_inits,)`` bool: the networks an analysis may use.

    A complete run: every network. An incomplete one: refused with one line naming the chunks
    missing and the resume command, unless ``finished_only`` (then the networks whose chunk is done).

    Raises:
      IncompleteRun: the run is incomplete and ``finished_only`` is off, or no network has finished.
    """
    status = run.status
    trained = status >= 0
    if run.complete and trained.all():
        return trained
    missing = int(np.sum(~run.chunk_done))
    n_chunks = run.chunk_done.size
    resume = f"landscape run --resume --out {run.path}"
    if not trained.any():
        raise IncompleteRun(
            f"{run.path}: no network has finished training yet (0 of {n_chunks} chunks); finish it with: {resume}"
        )
    if not finished_only:
        raise IncompleteRun(
            f"{run.path}: incomplete run, {missing} of {n_chunks} chunks not trained ({int(np.sum(~trained))} of "
            f"{status.size} networks); finish it with `{resume}`, or pass --finished-only to analyse the "
            f"{int(trained.sum())} finished networks"
        )
    return trained


def partial_note(run: Run, selected: np.ndarray) -> str | None:
    """One line to print (and store) when an analysis used only the finished networks; None when it used all."""
    selected = np.asarray(selected, bool)
    if selected.all():
        return None
    return (
        f"incomplete run: analysed the {int(selected.sum())} finished networks of {selected.size} "
        f"({int(np.sum(~run.chunk_done))} of {run.chunk_done.size} chunks not trained)"
    )


def drop_group(path: str | Path, name: str) -> None:
    """Remove the analysis group ``/<name>`` (e.g. ``types``, ``slices/plane-0-1-2``), atomically."""
    _check_name(name)
    with Run(path) as run:
        if not run.has(name):
            raise RunFileError(f"{path}: no '{name}' group to drop (analyses: {', '.join(run.groups()) or 'none'})")
    _publish(Path(path), name, lambda f: None, extra_bytes=0)


def _check_name(name: str) -> None:
    if not name or name.startswith("/") or name.split("/")[0] in RESERVED:
        raise ValueError(f"{name}: reserved for the study itself")


def _tree_bytes(arrays: dict[str, Any]) -> int:
    total = 0
    for value in arrays.values():
        if isinstance(value, dict):
            total += _tree_bytes(value)
        elif not isinstance(value, str):
            value = np.asarray(value)
            total += value.nbytes if value.dtype.kind not in "USO" else sum(len(str(v)) + 16 for v in value.ravel())
    return total


def check_writable(path: str | Path, extra_bytes: int = 0) -> None:
    """Refuse, in one line, a run file an analysis could not publish into: call before computing.

    Checks that the file is an intact run file (every object readable), that its folder is
    writable and that the folder's filesystem has room for a second copy plus ``extra_bytes``.

    Raises:
      RunFileError: with the reason.
    """
    path = Path(path)
    verify(path)
    folder = path.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise RunFileError(
            f"{path}: its folder {folder} is not writable (analyses publish a new copy of the run file there)"
        )
    need = path.stat().st_size + extra_bytes + (1 << 20)
    free = shutil.disk_usage(folder).free
    if free < need:
        raise RunFileError(
            f"{path}: not enough free space in {folder} ({free / 1e6:.1f} MB free, {need / 1e6:.1f} MB needed to publish an analysis)"
        )


def verify(path: str | Path) -> None:
    """Open every object and attribute of a run file and read each dataset's first and last
    element; :class:`RunFileError` if any fails (damaged metadata, a cut-off file)."""
    with Run(path) as run:
        try:
            f = run._file

            def touch(obj: h5py.HLObject) -> None:
                dict(obj.attrs)
                if isinstance(obj, h5py.Dataset) and obj.size:
                    # the first and last element: cheap at any size, and they find a cut-off file
                    obj[(0,) * obj.ndim]
                    obj[tuple(n - 1 for n in obj.shape)]

            touch(f)
            f.visititems(lambda _name, obj: touch(obj))
        except (OSError, KeyError, RuntimeError, ValueError, TypeError) as err:
            raise RunFileError(f"{run.path}: damaged run file ({_short(err)}); nothing was written to it") from None


def _copy_except(src: h5py.Group, dst: h5py.Group, skip: list[str]) -> None:
    """Copy ``src``'s attributes and members into ``dst``, leaving out the path ``skip``."""
    for key, value in src.attrs.items():
        dst.attrs[key] = value
    for key in src:
        if skip and key == skip[0]:
            if len(skip) > 1 and isinstance(src[key], h5py.Group):
                _copy_except(src[key], dst.create_group(key), skip[1:])
            continue
        src.copy(src[key], dst, name=key)


def _publish(path: Path, name: str, edit: Callable[[h5py.File], None], extra_bytes: int) -> None:
    """Republish ``path`` without ``/name``, then ``edit`` the copy (see the module doc)."""
    if not path.exists():
        raise RunFileError(f"{path}: no such file")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise RunFileError(f"{path}: its folder {path.parent} is not writable; the run file is unchanged")
    with locked(path):
        for stale in path.parent.glob(f".{path.name}.*.publish.tmp"):  # left by a killed publish
            stale.unlink(missing_ok=True)
        need = path.stat().st_size + extra_bytes + (1 << 20)
        free = shutil.disk_usage(path.parent).free
        if free < need:
            raise RunFileError(
                f"{path}: not enough free space in {path.parent} ({free / 1e6:.1f} MB free, {need / 1e6:.1f} MB needed); the run file is unchanged"
            )
        mode = os.stat(path).st_mode & 0o7777
        tmp: Path | None = None
        try:
            tmp = _new_temp(path, "publish")
            try:
                with _open(path, "r") as src:
                    if src.attrs.get("format") != FORMAT:
                        raise RunFileError(f"{path}: not a landscape run file; nothing was written to it")
                    with _open(tmp, "w") as dst:
                        _copy_except(src, dst, name.split("/"))
                        edit(dst)
                        dst.flush()
            except (KeyError, RuntimeError, ValueError) as err:
                code = re.search(
                    r"errno = (\d+)", str(err)
                )  # HDF5 failing to write the copy (disk full, file too large)
                if code:
                    raise OSError(int(code.group(1)), os.strerror(int(code.group(1)))) from None
                raise RunFileError(f"{path}: damaged run file ({_short(err)}); nothing was written to it") from None
            pause = float(os.environ.get(PUBLISH_PAUSE_ENV, "0") or 0)
            if pause:
                time.sleep(pause)
            _fsync(tmp)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
            tmp = None
            _fsync_folder(path)
        except OSError as err:
            raise RunFileError(
                f"{path}: could not publish '{name}' ({_os_reason(err)}); the run file is unchanged"
            ) from None
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)


def _os_reason(err: OSError) -> str:
    code = err.errno
    if code is None:  # h5py wraps HDF5 errors; find the system reason in the text
        text = str(err)
        for candidate in (errno.ENOSPC, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EDQUOT):
            if os.strerror(candidate).lower() in text.lower():
                code = candidate
                break
        else:
            return _short(err)
    return os.strerror(code)


def _write_tree(group: h5py.Group, arrays: dict[str, Any]) -> None:
    for key, value in arrays.items():
        if isinstance(value, dict):
            _write_tree(group.create_group(key), value)
        elif isinstance(value, str):
            group.attrs[key] = value
        else:
            value = np.asarray(value)
            if value.dtype.kind in "US":
                group.create_dataset(key, data=value.astype(object), dtype=h5py.string_dtype())
            else:
                group.create_dataset(key, data=value)


# ---------------------------------------------------------------------------------------------
# Reading.


def _read_tree(group: h5py.Group) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            out[key] = _read_tree(item)
        else:
            value = item[()]
            if item.dtype.kind == "O" or h5py.check_string_dtype(item.dtype) is not None:
                value = np.asarray(item.asstr()[()])
            out[key] = value
    for key, value in group.attrs.items():
        out.setdefault(key, value)
    return out


class Run:
    """A run file opened lazily and read-only; every array comes back as NumPy.

    ``Run(path)`` checks the format and layout version and raises :class:`RunFileError` with
    a one-line reason otherwise. Reading while a study writes the same file is safe: arrays of
    chunks not yet done read as NaN / status -1 (see :attr:`done`).

    Example::

        with Run("runs/euclid-2-3-1.h5") as run:
            run.study.model.hidden, run.final_loss.shape, run.group("types")["label"]
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():
            raise RunFileError(f"{self.path}: no such file")
        try:
            self._file = _open(self.path, "r")
        except OSError as err:
            raise RunFileError(f"{self.path}: not a readable HDF5 file ({_short(err)})") from None
        try:
            attrs = self._file.attrs
            if attrs.get("format") != FORMAT:
                raise RunFileError(
                    f"{self.path}: an HDF5 file, but not a landscape run file (no format='{FORMAT}' attribute)"
                )
            version = int(attrs.get("layout_version", -1))
            if version != LAYOUT_VERSION:
                raise RunFileError(
                    f"{self.path}: run file layout version {version}; this landscape reads version {LAYOUT_VERSION}"
                )
            missing = [
                n for n in ("data/x", "data/y", "train/status", "init/params", "final/params") if n not in self._file
            ]
            if missing:
                raise RunFileError(f"{self.path}: damaged run file, missing {', '.join(missing)}")
            n = int(attrs.get("n_inits", -1))
            per_network = [f"train/{name}" for name in TRAIN_DATASETS if f"train/{name}" in self._file]
            for stage in ("init", "final"):  # every network's parameters
                self._file[f"{stage}/params"].visititems(
                    lambda name, item, stage=stage: (
                        per_network.append(f"{stage}/params/{name}") if isinstance(item, h5py.Dataset) else None
                    )
                )
            wrong = [
                f"{name} has {self._file[name].shape[0] if self._file[name].shape else 'no'}"
                for name in per_network
                if self._file[name].shape[:1] != (n,)
            ]
            if wrong:
                raise RunFileError(f"{self.path}: damaged run file, {n} networks but {', '.join(wrong[:3])}")
        except RunFileError:
            self._file.close()
            raise
        except (OSError, KeyError, RuntimeError) as err:
            self._file.close()
            raise RunFileError(f"{self.path}: damaged run file ({_short(err)})") from None

    # context manager / lifetime
    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, name={self.name!r}, n_inits={self.n_inits}, complete={self.complete})"

    # metadata
    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self._file.attrs)

    @property
    def name(self) -> str:
        return str(self._file.attrs["name"])

    @property
    def study(self) -> Study:
        try:
            return study_from_dict(json.loads(self._file.attrs["config_json"]))
        except ConfigError as err:
            raise RunFileError(f"{self.path}: stored study no longer validates ({err})") from None
        except (KeyError, TypeError, ValueError) as err:  # json.JSONDecodeError is a ValueError
            raise RunFileError(
                f"{self.path}: damaged run file, its stored study cannot be read ({_short(err)})"
            ) from None

    @property
    def n_inits(self) -> int:
        return int(self._file.attrs["n_inits"])

    @property
    def complete(self) -> bool:
        return bool(self._file.attrs.get("complete", False))

    @property
    def chunk_done(self) -> np.ndarray:
        return self._file["train/chunk_done"][()].astype(bool)

    @property
    def done(self) -> np.ndarray:
        """``(n_inits,)`` bool: the network's chunk is finished and flushed."""
        chunk = int(self._file.attrs["chunk_size"])
        return np.repeat(self.chunk_done, chunk)[: self.n_inits]

    # data and results
    @property
    def x(self) -> np.ndarray:
        return self._file["data/x"][()]

    @property
    def y(self) -> np.ndarray:
        return self._file["data/y"][()]

    def params(self, stage: str = "final", index: Any = slice(None)) -> Any:
        """Parameter pytree of ``stage`` ("init" or "final"), leading axis = networks ``index``."""
        group = self._file[f"{stage}/params"]
        flat: dict[str, np.ndarray] = {}
        group.visititems(
            lambda name, item: flat.__setitem__(name, item[index]) if isinstance(item, h5py.Dataset) else None
        )
        return unflatten_params(flat)

    @property
    def init_params(self) -> Any:
        return self.params("init")

    @property
    def final_params(self) -> Any:
        return self.params("final")

    def _train(self, name: str) -> np.ndarray:
        return self._file[f"train/{name}"][()]

    final_loss = property(lambda self: self._train("final_loss"))
    grad_norm = property(lambda self: self._train("grad_norm"))
    status = property(lambda self: self._train("status"))
    steps = property(lambda self: self._train("steps"))
    trajectory = property(lambda self: self._train("trajectory"))
    trajectory_steps = property(lambda self: self._train("trajectory_steps"))

    # analysis groups
    def groups(self) -> list[str]:
        """Names of the analysis groups present (everything beyond data/init/final/train)."""
        return [k for k in self._file if k not in ("data", "init", "final", "train")]

    def has(self, name: str) -> bool:
        return name in self._file

    def group(self, name: str) -> dict[str, Any]:
        """An analysis group as a nested dict of NumPy arrays (attributes included)."""
        if name not in self._file:
            raise KeyError(f"{self.path}: no '{name}' group; run the analysis that writes it first")
        try:
            return _read_tree(self._file[name])
        except (OSError, RuntimeError, ValueError) as err:
            raise RunFileError(f"{self.path}: damaged '{name}' group ({_short(err)})") from None

    @property
    def training_state(self) -> str:
        """Fingerprint of the current training results (stamped on every analysis group when written)."""
        return _training_state(self._file)

    def analysis_state(self, name: str) -> str:
        """``"current"``, ``"stale"`` (computed from other training results: recompute it) or
        ``"unknown"`` (written before analyses were stamped) for the analysis group ``name``."""
        stamp = self._file[name].attrs.get("training_state")
        if stamp is None:
            return "unknown"
        return "current" if str(stamp) == self.training_state else "stale"

    def stale_analyses(self) -> list[str]:
        """Analysis groups (and their stamped subgroups, e.g. ``slices/plane-0-1-2``) computed from other training results."""
        current, stale = self.training_state, []
        for name in self.groups():
            group = self._file[name]
            children = [
                f"{name}/{k}" for k in group if isinstance(group[k], h5py.Group) and "training_state" in group[k].attrs
            ]
            for item in [name, *children]:
                stamp = self._file[item].attrs.get("training_state")
                if stamp is not None and str(stamp) != current:
                    stale.append(item)
        return stale

    def walk(self) -> Iterator[tuple[str, h5py.Dataset]]:
        items: list[tuple[str, h5py.Dataset]] = []
        self._file.visititems(lambda n, i: items.append((n, i)) if isinstance(i, h5py.Dataset) else None)
        return iter(items)


def _short(err: BaseException) -> str:
    text = str(err).split("\n")[0]
    return text[:200]


def describe_run(path: str | Path) -> str:
    """A human summary of what a run file holds (used by ``landscape info``)."""
    try:
        return _describe(path)
    except (OSError, KeyError, RuntimeError, ValueError) as err:
        raise RunFileError(f"{path}: damaged run file ({_short(err)})") from None


def _describe(path: str | Path) -> str:
    from .training import Status

    with Run(path) as run:
        attrs = run.attrs
        lines = [f"{run.path}: landscape run '{run.name}' (layout version {attrs['layout_version']})"]
        done = run.chunk_done
        state = "complete" if run.complete else f"INCOMPLETE: {int(done.sum())} of {done.size} chunks finished"
        lines.append(
            f"  state: {state}; resume with: landscape run --resume --out {run.path}"
            if not run.complete
            else f"  state: {state}"
        )
        lines.append(
            f"  created {attrs.get('created')}, backend {attrs.get('backend')}, devices {attrs.get('devices')}"
        )
        lines.append(f"  model: {attrs.get('model')}; n_inits {run.n_inits}, chunk size {attrs['chunk_size']}")
        study = run.study
        lines.append(
            f"  task: {study.task.name} (dim {study.task.dim}, {study.task.n_points} points, {study.task.distribution}); "
            f"optimizer {study.optimizer.name} lr {study.optimizer.learning_rate}; {study.train.steps} steps"
        )
        status = run.status
        counts = ", ".join(f"{s.name.lower()} {int(np.sum(status == s))}" for s in Status)
        lines.append(f"  status: {counts}")
        if "wall_seconds" in attrs:
            lines.append(
                f"  wall time {float(attrs['wall_seconds']):.1f} s, throughput {float(attrs.get('net_steps_per_second', 0)):.3g} network-steps/s"
            )
        lines.append("  datasets:")
        for name, dataset in run.walk():
            lines.append(f"    /{name}  {dataset.shape} {dataset.dtype}")
        groups = run.groups()
        lines.append(f"  analyses: {', '.join(groups) if groups else 'none yet'}")
    return "\n".join(lines)
