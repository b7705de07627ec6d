"""The app's logic, without Streamlit: the scenario the sidebar sets and its analysis (``analysis``), links that
reopen a scenario (``link``), charts and figures, the threshold badges, the card figures the app quotes, the quiz
and the downloads. ``advdemo.ui`` draws these on the page.
"""
