"""Benchmark suite for fastmlp: ``python -m bench --help``.

Modules
-------
numpy_mlp   plain-NumPy reference implementation (the baseline of every ratio)
blas_floor  the bare matrix products of a training epoch
torch_mlp   the same networks in PyTorch, with Keras optimizer formulas
workloads   the benchmark workloads, data and initial weights
systems     adapters that time one workload in one system
memory      peak-RSS benchmark (``python -m bench.memory``)
startup     start-up / compile-cache benchmark (``python -m bench.startup``)
report      tables, targets, JSON, Markdown and plots
"""
