"""From a config to a compiled Keras model: Keras objects by name with located errors, layers,
Keras Applications, the `Sequential` stack, transfer learning, and the per-layer summary."""
