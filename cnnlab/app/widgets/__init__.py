"""Reusable Qt pieces for the views: an image grid (many small images in one plot item), colour maps,
a redraw throttle and a probability bar chart."""
