"""Every layer type cnnlab's networks are made of; one class each."""

from cnnlab.engine.layers.activations import ELU, LeakyReLU, ReLU, Sigmoid, Tanh
from cnnlab.engine.layers.base import Layer, to_batch_first, to_batch_last
from cnnlab.engine.layers.conv import Conv2D
from cnnlab.engine.layers.dense import Dense, Flatten
from cnnlab.engine.layers.pool import AvgPool2D, MaxPool2D
from cnnlab.engine.layers.regularize import BatchNorm, Dropout

__all__ = [
    "ELU",
    "AvgPool2D",
    "BatchNorm",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "Layer",
    "LeakyReLU",
    "MaxPool2D",
    "ReLU",
    "Sigmoid",
    "Tanh",
    "to_batch_first",
    "to_batch_last",
]
