"""The demo's Git repository of manifests (`repo/`), shipped as package data so `reconciler demo`
works from a plain `pip install`; `examples/repo` in the source tree is a symlink to it."""
