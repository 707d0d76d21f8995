"""One harness for a local graphfetch deployment: ``graphfetch dev``, ``bench``, ``chaos`` and the tests.

* :mod:`~devkit.deployment.child`: :class:`Child`, a child process with its own log file,
  stopped for sure.
* :mod:`~devkit.deployment.usage`: CPU and memory of processes, as the bench and chaos runs read them.
* :mod:`~devkit.deployment.environment`: what a ``graphfetch`` child process inherits, and its command.
* :mod:`~devkit.deployment.upstreams`: :class:`DemoUpstreams`, the demo services in a child
  process or in this event loop.
* :mod:`~devkit.deployment.workers`: :class:`WorkerProcesses`, ``graphfetch worker`` children by name.
* :mod:`~devkit.deployment.local`: :class:`LocalDeployment`, a broker (its own or a given one)
  and worker processes on it, with the faults a chaos run or a crash test injects.
* :mod:`~devkit.deployment.lifecycle`: ``async with`` for what starts and stops, stopped
  even when its start fails half-way.
* :mod:`~devkit.deployment.errors`: :class:`DeploymentError` and :class:`UpstreamsError`.

Nothing is re-exported here: each caller imports the module it needs (only ``usage`` needs psutil).
Local brokers themselves are :mod:`devkit.brokers`.
"""
