"""mmtasks: a multi-symbol grid market maker run as a Celery worker fleet (README.md)."""

from mmtasks import native as _native

# Before any other module of the package is imported: a compiled module is used only while it
# is current (mmtasks/native.py).
_native.install()
