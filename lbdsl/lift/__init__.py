"""Lifting a network IR into the compact form ``K u``, ``M u = V prox_Ψ(W u + b)``."""
