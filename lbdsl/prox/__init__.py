"""Proximal calculus: the Ψ catalogue (activations as proximal maps) and the regularisers."""
