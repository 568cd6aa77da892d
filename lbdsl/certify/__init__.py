"""The convexity certificate ``Q ⪰ 0`` (math.md §4): exact where the structure allows, else numeric."""
