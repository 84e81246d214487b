"""Speed and memory benchmarks, each side by side with a plain reference (see README)."""
