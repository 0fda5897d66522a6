#!/usr/bin/env python3
"""The coefficients of the contract's `erf` (docs/determinism.md), from their
definitions, in 60-digit decimal arithmetic, each rounded once to f64.

Usage: python3 scripts/erf_coefficients.py [--rust]
Prints one line per coefficient (`name bits hexfloat`), or with --rust the
tables of evaluator/src/math.rs. No package beyond the standard library:
anyone can regenerate and compare.

- Near zero (|x| < 1/2): erf(x) = x * sum_n c_n x^(2n),
  c_n = (2/sqrt(pi)) * (-1)^n / (n! (2n+1)), n = 0..SERIES-1.
- On [i/2, i/2 + 1/2) for i = 1..7, around x0 = i/2 + 1/4:
  erf(x) = sum_k a_k (x - x0)^k, a_0 = erf(x0), and for k >= 1
  a_k = (2/sqrt(pi)) (-1)^(k-1) H_(k-1)(x0) exp(-x0^2) / k!
  (H the physicists' Hermite polynomials), k = 0..DEGREE.
"""
import sys
from decimal import Decimal, getcontext

getcontext().prec = 60
SERIES = 12
DEGREE = 16
CENTERS = [Decimal(i) / 2 + Decimal(1) / 4 for i in range(1, 8)]


def pi():
    """Gauss-Legendre: quadratic convergence, 8 rounds give over 60 digits."""
    a, b, t, p = Decimal(1), Decimal(1) / Decimal(2).sqrt(), Decimal(1) / 4, Decimal(1)
    for _ in range(8):
        a_next = (a + b) / 2
        b = (a * b).sqrt()
        t -= p * (a - a_next) ** 2
        a, p = a_next, 2 * p
    return (a + b) ** 2 / (4 * t)


TWO_OVER_SQRT_PI = 2 / pi().sqrt()


def factorial(n):
    f = 1
    for i in range(2, n + 1):
        f *= i
    return f


def series():
    return [TWO_OVER_SQRT_PI * (-1) ** n / (factorial(n) * (2 * n + 1)) for n in range(SERIES)]


def erf(x):
    """erf by its series at 0, summed until terms vanish at this precision."""
    total, n = Decimal(0), 0
    while True:
        term = TWO_OVER_SQRT_PI * (-1) ** n * x ** (2 * n + 1) / (factorial(n) * (2 * n + 1))
        total += term
        if n > 10 and abs(term) < Decimal(10) ** -70:
            return total
        n += 1


def taylor(x0):
    hermite = [Decimal(1), 2 * x0]  # H_0, H_1
    while len(hermite) < DEGREE:
        n = len(hermite) - 1
        hermite.append(2 * x0 * hermite[n] - 2 * n * hermite[n - 1])
    gauss = (-x0 * x0).exp()
    return [erf(x0)] + [
        TWO_OVER_SQRT_PI * (-1) ** (k - 1) * hermite[k - 1] * gauss / factorial(k)
        for k in range(1, DEGREE + 1)
    ]


def bits(d):
    import struct

    return struct.unpack("<Q", struct.pack("<d", float(d)))[0]


def main():
    rust = "--rust" in sys.argv
    tables = [("ERF_SERIES", series())] + [
        (f"ERF_AT[{i}] (x0 = {x0})", taylor(x0)) for i, x0 in enumerate(CENTERS)
    ]
    for name, coefficients in tables:
        if rust:
            print(f"// {name}")
            print("[" + ", ".join(f"0x{bits(c):016x}" for c in coefficients) + "],")
        else:
            for k, c in enumerate(coefficients):
                print(f"{name} {k} 0x{bits(c):016x} {float(c).hex()}")


if __name__ == "__main__":
    main()
