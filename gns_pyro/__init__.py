"""gns-pyro: Generative Neuro-Symbolic models of concepts as Pyro programs.

The first model is the handwritten-character model of Feinman & Lake (ICLR 2021).
"""

__version__ = "0.1.0"
