"""Language-model evaluation: perplexity, a recency cache and validation-fitted mixtures."""
