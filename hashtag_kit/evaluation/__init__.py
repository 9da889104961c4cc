"""Ranking and caption metrics, and the evaluation of finished runs on any split (Flickr8k)."""
