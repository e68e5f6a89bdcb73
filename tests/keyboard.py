"""What a rater does with the keyboard alone before the first item, shared by the browser tests."""


def consent(page) -> None:
    """Tick the consent box (it has the focus) and send it: the instructions page follows."""
    page.keyboard.press("Space")
    with page.expect_navigation():
        page.keyboard.press("Enter")


def start(page) -> None:
    """Leave the instructions for the first item (or the qualification, where there is one)."""
    with page.expect_navigation():
        page.keyboard.press("Enter")
