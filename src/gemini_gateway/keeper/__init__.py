"""Keeps an executor page (the AI Studio Build app) open in a headless browser, unattended."""
