"""Background jobs report progress, results and readable errors."""

from app.jobs import Job, readable_error
from satseg.errors import DataError


def test_job_result_and_progress():
    def work(job):
        job.report(0.5, "half")
        return 42

    job = Job("t", work).start()
    assert job.wait(10)
    assert job.status == "done" and job.result == 42 and job.progress == 1.0 and job.message == "half"


def test_job_error_is_readable():
    def work(job):
        raise DataError("image 'x' is missing; pick another")

    job = Job("t", work).start()
    job.wait(10)
    assert job.status == "failed"
    assert job.error == "image 'x' is missing; pick another"
    assert readable_error(ValueError("bad\nmore")) == "ValueError: bad"


def test_job_cancel():
    import threading

    gate = threading.Event()

    def work(job):
        gate.wait(5)
        return None if job.cancelled else 1

    job = Job("t", work).start()
    job.cancel()
    gate.set()
    job.wait(10)
    assert job.status == "cancelled"
