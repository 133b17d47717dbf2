"""Build script for the Cython core of loadtnt.driver.

Metadata lives in pyproject.toml; this file declares the extensions and puts the harness's
data files (the embedded server's Lua, the built-in scenarios) into the package.
``LOADTNT_DEBUG=1`` turns on line tracing and the core's invariant checks
(``make debug``).
"""
import glob
import os

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_py import build_py

DEBUG = os.environ.get("LOADTNT_DEBUG", "") not in ("", "0")

macros = [("LOADTNT_DEBUG", "1" if DEBUG else "0")]
directives = {
    "language_level": "3",
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "embedsignature": True,
}
cflags = ["-O2"]
if DEBUG:
    macros += [("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")]
    directives.update(linetrace=True, boundscheck=True, wraparound=True)
    cflags = ["-O0", "-g"]

# A switch between the debug and the release build must recompile everything,
# even though no source changed.
_MODE_FILE = os.path.join("build", "loadtnt-build-mode")
_mode = "debug" if DEBUG else "release"
try:
    with open(_MODE_FILE) as f:
        _mode_changed = f.read().strip() != _mode
except OSError:
    _mode_changed = True
os.makedirs("build", exist_ok=True)
with open(_MODE_FILE, "w") as f:
    f.write(_mode)

extensions = [
    Extension(
        "loadtnt.driver.iproto.protocol",
        ["loadtnt/driver/iproto/protocol.pyx"],
        include_dirs=["loadtnt/driver/iproto"],
        define_macros=macros,
        extra_compile_args=cflags,
    ),
    # the harness's hot-path latency recorder (HdrHistogram bucket layout)
    Extension("loadtnt.histogram._recorder", ["loadtnt/histogram/_recorder.pyx"],
              extra_compile_args=["-O2"]),
    # the harness's closed-loop coroutines (time, send, record without Python calls)
    Extension("loadtnt.worker._hotloop", ["loadtnt/worker/_hotloop.pyx"],
              extra_compile_args=["-O2"]),
    # the C load loop (drivers: [loadtnt-c]) on the driver's protocol
    Extension("loadtnt.worker._cloop", ["loadtnt/worker/_cloop.pyx"],
              include_dirs=["loadtnt/driver/iproto"], define_macros=macros,
              extra_compile_args=cflags),
]

# The top-level tarantool/ and scenarios/ are the sources; wheels (and so installs from an sdist,
# which MANIFEST.in makes carry both dirs) get a copy inside the package, where an installed
# loadtnt looks (loadtnt/server/embedded.py, loadtnt/scenario/builtin.py). An editable install
# reads them from the checkout.
PACKAGED_DATA = {
    "tarantool/*.lua": "loadtnt/server/lua",
    "scenarios/*.yaml": "loadtnt/scenario/builtin",
}


class build_py_with_data(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for pattern, dest in PACKAGED_DATA.items():
            files = sorted(glob.glob(pattern))
            if not files:
                raise SystemExit(f"setup.py: no {pattern} to package (run from the source tree)")
            self.mkpath(os.path.join(self.build_lib, dest))
            for f in files:
                self.copy_file(f, os.path.join(self.build_lib, dest, os.path.basename(f)))


setup(
    cmdclass={"build_py": build_py_with_data},
    ext_modules=cythonize(
        extensions,
        compiler_directives=directives,
        force=_mode_changed,
        annotate=os.environ.get("LOADTNT_ANNOTATE") == "1",
    ),
)
