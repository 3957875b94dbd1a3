defmodule ElixirApp.MixProject do
  use Mix.Project

  # An Elixir project using erlang_python as an ordinary dependency.
  # mix cannot fetch rebar3 from hex.pm here; point it at the system one:
  #   MIX_REBAR3=$(command -v rebar3) mix test
  def project do
    [
      app: :elixir_app,
      version: "0.1.0",
      elixir: "~> 1.14",
      deps: deps()
    ]
  end

  def application do
    [extra_applications: [:logger]]
  end

  defp deps do
    [{:erlang_python, path: "../..", manager: :rebar3}]
  end
end
