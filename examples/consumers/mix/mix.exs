# A Mix project that uses erlang_python as a git or path dependency, as an
# application of yours would. scripts/test-consumers.sh fills in the
# dependency. Mix builds it with rebar3 (its compile hook builds the NIF
# with cargo): set it up once with
#   mix local.rebar rebar3 "$(command -v rebar3)"
defmodule Consumer.MixProject do
  use Mix.Project

  def project do
    [app: :consumer, version: "0.1.0", elixir: "~> 1.14", deps: deps()]
  end

  def application do
    [extra_applications: [:logger]]
  end

  defp deps do
    [@DEP@]
  end
end
