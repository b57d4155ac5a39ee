import os

# Rendering through pygame needs no screen; say so before any test imports gymnasium's renderers.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
