"""Tests of the built-in simulators."""
