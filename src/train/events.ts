/**
 * What a training loop tells the outside world while it runs. The loop never prints: a caller that
 * wants a progress bar passes `onEvent` and renders these (the CLI's `progressRenderer` does).
 *
 * Rates are for this process only: after a resume, `stepsPerSecond` counts the steps run since the
 * 'start' event, not the ones done before the checkpoint, so an ETA stays right.
 */
export type TrainEvent =
  | {
      type: 'start';
      /** Steps already done (the resumed checkpoint's step; 0 for a fresh run). */
      step: number;
      /** Total steps of the run. */
      steps: number;
      /** What one step consumes, for display: e.g. { unit: 'tok', perStep: batchSize }. */
      unit: string;
      perStep: number;
    }
  | {
      type: 'step';
      /** Steps completed, counting those before a resume. */
      step: number;
      steps: number;
      /** The step's own numbers (loss and whatever the model reported), not window means. */
      metrics: Record<string, number>;
      lr: number;
      /** Seconds since 'start' in this process. */
      seconds: number;
      /** (step − start step) / seconds. */
      stepsPerSecond: number;
    }
  | { type: 'checkpoint'; step: number; dir: string }
  | {
      type: 'end';
      step: number;
      steps: number;
      /** True when shouldStop ended the run early (a checkpoint was written at `step`). */
      interrupted: boolean;
      seconds: number;
    };

export type TrainEventHandler = (e: TrainEvent) => void;
