defmodule PyTest do
  use ExUnit.Case, async: true

  test "calls a Python function with :py.call" do
    assert {:ok, 1.4142135623730951} = :py.call(:math, :sqrt, [2.0])
    assert {:ok, "[1, 2, 3]"} = :py.call(:json, :dumps, [[1, 2, 3]])
  end

  test "Elixir strings, maps and keyword-style kwargs cross over" do
    assert {:ok, ~s({"a": 1, "b": [true, null]})} =
             :py.call(:json, :dumps, [%{a: 1, b: [true, nil]}], %{sort_keys: true})

    assert {:ok, "HÉLLO"} = :py.call(:builtins, :"str.upper", ["héllo"])
  end

  test "evaluates with locals and returns exact integers" do
    assert {:ok, 7} = :py.eval("x * 2 + y", %{x: 3, y: 1})
    big = Integer.pow(2, 200)
    assert {:ok, ^big} = :py.eval("2 ** 200")
  end

  test "Python exceptions come back as error tuples" do
    assert {:error, {:ZeroDivisionError, ~c"division by zero"}} = :py.eval("1 / 0")
  end

  test "pids round-trip" do
    me = self()
    assert {:ok, ^me} = :py.call(:builtins, :max, [[me]])
  end

  test "a wrapper module works from Elixir" do
    assert %{"a" => 2, "b" => 1} = ElixirApp.word_counts("a b a")
  end

  test "Python calls an Elixir function and sends messages back" do
    :ok = :py.register_function(:elixir_upcase, fn [s] -> String.upcase(s) end)
    assert {:ok, "ÉLIXIR"} = :py.eval("erlang.elixir_upcase('élixir')")

    me = self()
    assert {:ok, :none} = :py.call(:erlang, :send, [me, {"from", "python"}])
    assert_receive {"from", "python"}
    :ok = :py.unregister_function(:elixir_upcase)
  end
end
