defmodule Consumer do
  @moduledoc "Calls Python through erlang_python; `check/0` prints what it got."

  def check do
    {:ok, _} = Application.ensure_all_started(:erlang_python)
    IO.puts("consumer: #{inspect(:py.call(:math, :sqrt, [2.0]))}")
    IO.puts("consumer: #{inspect(:py.eval("x * 2 + y", %{x: 3, y: 1}))}")
  end
end
