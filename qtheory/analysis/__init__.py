"""Analytic engines: quadrature, classical M/G/1 formulas, prediction formulas,
priority classes, an independent mpmath method and sympy closed forms."""

__all__: list[str] = []
