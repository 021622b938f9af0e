"""The container's view of the filesystem: its volumes at their mountPaths, the host elsewhere.

Each container process (and each exec and exec probe) enters a private mount namespace between
fork and exec and a private root: the host's / bound there (so the project's Python and tools
work as on the host), with the pod's volumes bound over it at their mountPaths, read-only where
the mount says so; /tmp is the pod's scratch space unless a volume is mounted there. Where a
mountPoint (or working directory) is missing on the host, the folders on the way to it are
mirrored instead: a tmpfs with each of the host's entries bound in it, so that the mountPoint
is made in memory, never on the host. Paths, env and argv then stay as the manifest gives them.
The sandbox's "image" is the host's Python environment and this checkout: where a mount would
hide them (a checkout under /tmp), they are bound again at their own paths, as an image's files
are there in a real container.

Without namespaces (an unprivileged user on a machine that forbids user namespaces) processes
run on the host as before, with mountPaths rewritten to the folders behind them (sandbox.podspec),
and the sandbox says so once.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.kubelet import podspec
from sandbox.kubelet.images import REPO_ROOT

log = logging.getLogger(__name__)

HOST_VIEW_ENV = "IRIS_SANDBOX_HOST_VIEW"  # "1": run every container on the host's paths
IMAGE_WORKDIR = "/tmp"  # the kit image's WORKDIR (and HOME), as a container of it starts in


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _image_folders() -> tuple[str, ...]:
    """What a container's processes run from: the Python they start, its libraries, the
    checkout their code is imported from, and PYTHONPATH; the outermost of each nest."""
    found = {
        os.path.realpath(path)
        for path in (
            sys.prefix,
            sys.base_prefix,
            os.path.dirname(os.path.realpath(sys.executable)),
            str(REPO_ROOT),
            *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep)),
        )
    }
    return tuple(sorted(f for f in found if not any(_within(f, o) and f != o for o in found)))


IMAGE_FOLDERS = _image_folders()

_CLONE_NEWNS, _CLONE_NEWUSER = 0x00020000, 0x10000000
_MS_RDONLY, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18
# statvfs f_flag bits -> the mount flags a read-only remount must keep (a user namespace may
# not drop them from a mount it inherited)
_KEPT_FLAGS = {2: 2, 4: 4, 8: 8, 1024: 1024, 2048: 2048, 4096: 1 << 21}

_libc: ctypes.CDLL | None = None
_available: bool | None = None


@dataclass(frozen=True)
class Op:
    """One step of building the view, run in the child: tmpfs, dir, file, symlink, bind."""

    kind: str
    path: str
    source: str = ""
    flags: int = 0


@dataclass
class ContainerView:
    """How a container's processes see the filesystem, and how to start one in that view."""

    mounts: list[podspec.Mount]
    tmpdir: Path  # the host folder behind the container's /tmp
    working_dir: str  # as the spec says ("" for the image's)
    root: Path  # an empty host folder the private root is mounted on
    isolated: bool = field(default_factory=lambda: available())
    image: tuple[str, ...] = IMAGE_FOLDERS

    @property
    def rewritten(self) -> list[podspec.Mount]:
        """The mounts whose paths must be rewritten in env and argv (none when isolated)."""
        return [] if self.isolated else self.mounts

    @property
    def tmp(self) -> Path:
        """/tmp as the container's processes name it."""
        return Path("/tmp") if self.isolated else self.tmpdir

    def path(self, value: str) -> str:
        return podspec.local_path(value, self.rewritten)

    def cwd(self) -> str | None:
        """The cwd to give Popen (None when the child changes directory itself)."""
        if self.isolated:
            return None
        local = podspec.local_path(self.working_dir, self.mounts)
        return local if local and Path(local).is_dir() else str(self.tmpdir)

    def preexec(self) -> Callable[[], None] | None:
        """What the child runs between fork and exec to enter the view (None on the host)."""
        if not self.isolated:
            return None
        ops = plan(
            self.mounts, self.tmpdir, self.working_dir or IMAGE_WORKDIR, self.root, self.image
        )
        cwd = self.working_dir or IMAGE_WORKDIR
        uid, gid = os.getuid(), os.getgid()
        _load_libc()  # not in the child: loading a library there could deadlock
        root = str(self.root)
        return lambda: enter(ops, root, cwd, uid, gid)

    def popen(
        self, argv: list[str], *, then: Callable[[], None] | None = None, **options: Any
    ) -> subprocess.Popen[Any]:
        """Start ``argv`` in the view (``then`` runs in the child once it is in); OSError with
        the child's own reason when it cannot get in (Popen itself would only say that
        "Exception occurred in preexec_fn")."""
        enter_view = self.preexec()
        if enter_view is None and then is None:
            return subprocess.Popen(argv, cwd=self.cwd(), **options)
        # the pipe is close-on-exec: it only ever carries a failure, written before exec
        reason_read, reason_write = os.pipe()

        def in_child() -> None:
            try:
                if enter_view is not None:
                    enter_view()
                if then is not None:
                    then()
            except OSError as error:
                os.write(reason_write, str(error).encode(errors="replace")[:4000])
                raise

        try:
            return subprocess.Popen(argv, cwd=self.cwd(), preexec_fn=in_child, **options)
        except subprocess.SubprocessError as error:
            os.close(reason_write)
            reason_write = -1
            reason = os.read(reason_read, 4096).decode(errors="replace")
            raise OSError(f"cannot enter the container's view: {reason or error}") from error
        finally:
            for fd in (reason_read, reason_write):
                if fd >= 0:
                    os.close(fd)


def plan(
    mounts: list[podspec.Mount],
    tmpdir: Path,
    cwd: str,
    root: Path,
    image: tuple[str, ...] = IMAGE_FOLDERS,
) -> list[Op]:
    """The steps that build the view under ``root``, all computed here, in the parent."""
    binds = [(m.mount_path, str(m.local), m.read_only) for m in mounts]
    if not any(target == "/tmp" for target, _, _ in binds):
        binds.append(("/tmp", str(tmpdir), False))
    # the image's folders a mount covers, bound again over it (after it: binds go by length)
    binds += [
        (folder, folder, False) for folder in image if _under_any(folder, binds, strictly=True)
    ]
    # a target's folders as the host resolves them: a symlink on the way (/bin -> usr/bin)
    # must lead into a mirror, not through to the host
    binds = [
        (t if _under_any(t, binds, strictly=True) else os.path.realpath(t), source, read_only)
        for t, source, read_only in binds
    ]
    targets = {target for target, _, _ in binds}
    # a working directory the view lacks is made, as the runtime does
    made_cwd = not os.path.isdir(cwd) or _under_any(cwd, binds)
    if made_cwd:
        cwd = cwd if _under_any(cwd, binds) else os.path.realpath(cwd)
        targets.add(cwd)
    # a host folder on the way to a mountPoint the host lacks is mirrored entry by entry (in
    # a tmpfs, where the mountPoint is made) instead of bound whole; so are the folders above
    mirrored: set[str] = set()
    for target in targets:
        folder = "/"
        for part in target.strip("/").split("/"):
            child = os.path.join(folder, part)
            if child != target and child in targets:
                break  # inside a volume, not the host's
            if not os.path.isdir(child) and not (child == target and os.path.exists(child)):
                while folder not in mirrored:
                    mirrored.add(folder)
                    folder = os.path.dirname(folder)
                break
            folder = child
    binds.sort(key=lambda b: len(b[0]))
    real_root = os.path.realpath(root)
    skipped = targets | {real_root}
    # (the root shows inside itself where a mirror binds the folder it is in: harmless)
    ops: list[Op] = [] if mirrored else [Op("bind", str(root), "/", _MS_BIND | _MS_REC)]
    for host_dir in sorted(mirrored, key=len):
        if any(_within(host_dir, target) for target in targets):
            continue  # below a target: not the host's there
        here = _under(root, host_dir)
        if host_dir != "/":
            ops.append(Op("dir", here))
        ops.append(Op("tmpfs", here))
        try:
            # the folder that holds our root first: the copy of the root it carries along
            # is still empty then
            entries = sorted(
                os.listdir(host_dir),
                key=lambda e: (not _within(real_root, os.path.join(host_dir, e)), e),
            )
        except OSError:
            continue
        for entry in entries:
            source = os.path.join(host_dir, entry)
            if source in mirrored or source in skipped:
                continue
            ops.extend(_copy(source, _under(root, source)))
    for target, source, read_only in binds:
        here = _under(root, target)
        ops.append(Op("dir" if os.path.isdir(source) else "file", here))
        ops.append(Op("bind", here, source, _MS_BIND | _MS_REC))
        if read_only:
            ops.append(Op("bind", here, source, _readonly_flags(source)))
    if made_cwd:
        ops.append(Op("workdir", _under(root, cwd)))
    return ops


def _under_any(path: str, binds: list[tuple[str, str, bool]], *, strictly: bool = False) -> bool:
    """Whether ``path`` lies in (or is) a mount's target: the view's, not the host's."""
    return any(_within(path, t) and not (strictly and path == t) for t, _, _ in binds)


def _under(root: Path, path: str) -> str:
    return str(root) + path if path != "/" else str(root)


def _copy(source: str, here: str) -> list[Op]:
    """How one host entry appears in a mirrored folder: the same symlink, or bound."""
    if os.path.islink(source):
        return [Op("symlink", here, os.readlink(source))]
    kind = "dir" if os.path.isdir(source) else "file"
    return [Op(kind, here), Op("bind", here, source, _MS_BIND | _MS_REC)]


def _readonly_flags(source: str) -> int:
    try:
        present = os.statvfs(source).f_flag
    except OSError:
        present = 0
    kept = sum(flag for bit, flag in _KEPT_FLAGS.items() if present & bit)
    return _MS_BIND | _MS_REMOUNT | _MS_RDONLY | kept


def _load_libc() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.unshare.argtypes = [ctypes.c_int]
        _libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
    return _libc


def _check(result: int, what: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")


def enter(ops: list[Op], root: str, cwd: str, uid: int, gid: int) -> None:
    """In the child, before exec: a mount namespace (and a user namespace unless root)."""
    libc = _load_libc()
    user = os.geteuid() != 0
    _check(libc.unshare(_CLONE_NEWNS | (_CLONE_NEWUSER if user else 0)), "unshare")
    if user:
        for name, text in (
            ("setgroups", "deny"),
            ("uid_map", f"{uid} {uid} 1"),
            ("gid_map", f"{gid} {gid} 1"),
        ):
            fd = os.open(f"/proc/self/{name}", os.O_WRONLY)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)
    _check(libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None), "make / private")
    for op in ops:
        path = op.path.encode()
        if op.kind == "tmpfs":
            _check(libc.mount(b"tmpfs", path, b"tmpfs", 0, b"mode=755"), f"tmpfs {op.path}")
        elif op.kind == "dir":
            os.makedirs(op.path, exist_ok=True)
        elif op.kind == "workdir":
            with contextlib.suppress(OSError):  # chdir below says why it is not there
                os.makedirs(op.path, exist_ok=True)
        elif op.kind == "file":
            if not os.path.exists(op.path):
                os.close(os.open(op.path, os.O_CREAT | os.O_WRONLY, 0o644))
        elif op.kind == "symlink":
            os.symlink(op.source, op.path)
        else:
            result = libc.mount(op.source.encode(), path, None, op.flags, None)
            _check(result, f"bind {op.source} at {op.path}")
    os.chroot(root)
    os.chdir(cwd)


def available() -> bool:
    """Whether this machine lets the sandbox give containers their own view (checked once)."""
    global _available
    if _available is None:
        _available, why = _probe()
        if not _available:
            log.warning(
                "containers see the host's paths (mountPaths rewritten to their folders), "
                "not their own: %s",
                why,
            )
    return _available


def _probe() -> tuple[bool, str]:
    if os.environ.get(HOST_VIEW_ENV) == "1":
        return False, f"{HOST_VIEW_ENV}=1"
    if not sys.platform.startswith("linux"):
        return False, "mount namespaces need Linux"
    with tempfile.TemporaryDirectory(prefix="iris-view-") as scratch:
        root, tmp = Path(scratch) / "root", Path(scratch) / "tmp"
        root.mkdir()
        tmp.mkdir()
        view = ContainerView([], tmp, "", root, isolated=True)
        try:
            done = subprocess.run(
                [sys.executable, "-S", "-c", "open('/tmp/seen', 'w').close()"],
                preexec_fn=view.preexec(),
                capture_output=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as error:
            return False, f"user and mount namespaces are not available here ({error})"
        if done.returncode != 0 or not (tmp / "seen").exists():
            output = done.stderr.decode(errors="replace").strip()
            return False, f"a process in its own mount namespace failed: {output}"
    return True, ""
