"""Compiled kernels: scalar maths shared by every target, and the CPU (Numba) kernels."""
