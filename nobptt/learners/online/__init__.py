"""Online learners over the shared cell protocol (docs/online.md): each a gradient estimator that
carries its memory of the past forward in time instead of unrolling the graph backwards."""
