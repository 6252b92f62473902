"""The render farm: chunk planning, Ray executor, segment join, resume, job export."""
