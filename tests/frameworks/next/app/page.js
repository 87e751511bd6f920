import Predict from "./predict";

export default function Page() {
  return (
    <main>
      <h1>wasm-predict in Next.js</h1>
      <Predict bundle="/models/digits-mlp-int8/1.0.0/" />
    </main>
  );
}
