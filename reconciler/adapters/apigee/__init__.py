"""Apigee X / hybrid adapter: generated proxy bundles, API products, developer apps, label ownership."""
