"""From a solved plan to what runs it: launch commands, manifests, a verification script."""
