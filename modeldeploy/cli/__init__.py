"""The top floor: the `modeldeploy` command line. It parses and dispatches, nothing more.

Package layout: `modeldeploy` is a namespace package whose parts are `modeldeploy.cli`
(this folder) and the top-level folders `operator/`, `runtime/` and `hub/`, linked in as
`modeldeploy/operator`, `modeldeploy/runtime` and `modeldeploy/hub`. None of those
folders has an `__init__.py` at its root: from the repository root, `import operator`
must keep finding the standard library's module (a regular package named `operator`
in the working directory would shadow it for `python -m ...`).
"""
