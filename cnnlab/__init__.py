"""cnnlab: a YAML file in, a trained, evaluated and explained Keras CNN out."""

import os

__version__ = "0.1.0"

# TensorFlow's C++ start-up chatter (oneDNN, CUDA stubs) buries cnnlab's own output;
# warnings and errors still show. A user's own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
