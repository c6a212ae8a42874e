"""`reconciler comment`: a plan's Markdown as ONE pull/merge-request comment, updated in place.

The comment is found again by the hidden marker on the Markdown's first line
(`<!-- stoa-reconciler plan: PATH -->`, written by `output.render.markdown_marker`), so each CI run
edits its own comment instead of adding one. Plain HTTP through httpx; nothing of the pipeline.
"""
