"""Generative models: architectures registry, safetensors files, training loops."""
