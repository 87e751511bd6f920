"use client";
// The package in a client component: loaded on mount (the module touches window), the predictor
// closed on unmount.
import { useEffect, useState } from "react";

export default function Predict({ bundle }) {
  const [shown, setShown] = useState({ state: "loading", text: "loading…", runtime: "" });
  useEffect(() => {
    let predictor;
    let gone = false;
    (async () => {
      const { loadPredictor } = await import("wasm-predict/shell");
      predictor = await loadPredictor(new URL(bundle, location.href));
      if (gone) return predictor.close();
      const result = await predictor.predict(new Float32Array(predictor.model.featureCount));
      setShown({ state: "ready", text: `${result.label} via ${predictor.where}`, runtime: predictor.where });
    })().catch((error) => setShown({ state: "failed", text: String(error), runtime: "" }));
    return () => {
      gone = true;
      predictor?.close();
    };
  }, [bundle]);
  return (
    <output id="out" data-state={shown.state} data-runtime={shown.runtime}>
      {shown.text}
    </output>
  );
}
