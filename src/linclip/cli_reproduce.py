"""``python -m linclip reproduce``: the paper's experiments at book or paper scale (to be written)."""
