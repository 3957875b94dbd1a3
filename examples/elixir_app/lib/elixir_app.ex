defmodule ElixirApp do
  @moduledoc "A tiny Elixir wrapper showing how to call Python from Elixir."

  @doc "Word frequencies computed by Python's collections.Counter."
  def word_counts(text) when is_binary(text) do
    {:ok, counts} = :py.eval("dict(__import__('collections').Counter(text.split()))", %{text: text})
    counts
  end
end
