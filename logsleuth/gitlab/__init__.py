"""GitLab at the edge: rendered reports out to the merge request (the note API)."""
