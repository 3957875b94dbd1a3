"""Helpers for py_convert_SUITE: a real module, so every context sees it."""


def ident(x):
    return x


def type_of(x):
    return type(x).__name__


def nest(n):
    v = 1
    for _ in range(n):
        v = [v]
    return v
